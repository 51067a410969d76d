"""What a Pod's status means for an instance: Running, Stopped or Failed (pure functions on the
pod as the API server returns it, a dict).

- Running: phase Running *and* condition Ready True (a container that runs but is not ready yet,
  or is crash-looping between restarts, does not count).
- Failed: the agent's container keeps failing — waiting with a reason such as CrashLoopBackOff,
  ErrImagePull or CreateContainerConfigError, or last terminated with a non-zero code or OOMKilled —
  or the pod's phase is Failed (evicted, for example).
- Stopped: phase Succeeded (the agent exited 0), or a pod still being scheduled or started
  (Pending, Running but not ready yet): it is not running, and nothing is broken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controller.backends.base import InstanceState, InstanceStatus
from controller.backends.kube_objects import CONTAINER, pod_image

# Waiting reasons that mean "this will not start by itself".
FAILING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


def parse_time(value: str | None) -> datetime | None:
    """Kubernetes times are RFC 3339 in UTC, seconds resolution: "2026-11-30T19:38:18Z"."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def is_terminating(pod: dict[str, Any]) -> bool:
    """Deleted and waiting for its containers to stop: already gone as far as we are concerned."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _agent_status(status: dict[str, Any]) -> dict[str, Any]:
    statuses = status.get("containerStatuses") or []
    return next((s for s in statuses if s.get("name") == CONTAINER), statuses[0] if statuses else {})


def _ready(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _unscheduled(status: dict[str, Any]) -> str:
    """Why the scheduler has not placed the pod yet (no node has the resources it asks, for example)."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"{condition.get('reason', 'Unschedulable')}: {condition.get('message', '')}".strip(": ")
    return ""


def _terminated_message(terminated: dict[str, Any]) -> str:
    reason, code = terminated.get("reason") or "", terminated.get("exitCode")
    if reason == "OOMKilled":
        return f"killed: out of memory (OOMKilled, exit code {code})"
    return f"exited with code {code}" + (f" ({reason})" if reason and reason not in ("Error", "Completed") else "")


def status_of(pod: dict[str, Any]) -> InstanceStatus:
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    agent = _agent_status(status)
    state = agent.get("state") or {}
    running, waiting = state.get("running"), state.get("waiting") or {}
    terminated = state.get("terminated") or (agent.get("lastState") or {}).get("terminated") or {}
    ip, image = status.get("podIP") or "", pod_image(pod)
    started_at = parse_time((running or {}).get("startedAt") or status.get("startTime"))

    def result(state: InstanceState, message: str, code: int | None = None) -> InstanceStatus:
        return InstanceStatus(state, ip=ip, image=image, started_at=started_at, exit_code=code, message=message)

    code = terminated.get("exitCode")
    if phase == "Running" and running and _ready(status):
        return result(InstanceState.RUNNING, "running")
    if phase == "Succeeded":
        return result(InstanceState.STOPPED, "exited with code 0", code)
    if phase == "Failed":
        why = status.get("reason") or (terminated and _terminated_message(terminated)) or "pod failed"
        detail = status.get("message") or ""
        return result(InstanceState.FAILED, f"{why}: {detail}".strip(": "), code)
    if waiting.get("reason") in FAILING_REASONS:
        last = f"; last {_terminated_message(terminated)}" if terminated else ""
        detail = f": {waiting['message']}" if waiting.get("message") else ""
        return result(InstanceState.FAILED, f"{waiting['reason']}{detail}{last}", code)
    if terminated and (code != 0 or terminated.get("reason") == "OOMKilled") and not running:
        return result(InstanceState.FAILED, _terminated_message(terminated), code)
    why = waiting.get("reason") or ("not ready" if running else _unscheduled(status) or phase.lower())
    return result(InstanceState.STOPPED, f"starting ({why})")
