"""The columns of ``hiclaw get``'s tables, per kind: the default ones and, for ``-o wide``, more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from controller.cli import output

Row = Callable[[dict[str, Any], datetime], list[Any]]


def _created(resource: dict[str, Any], now: datetime) -> str:
    return output.age((resource.get("metadata") or {}).get("creationTimestamp"), now)


def _team_of(resource: dict[str, Any]) -> str:
    return ((resource.get("metadata") or {}).get("annotations") or {}).get("hiclaw.io/team", "")


def _target(debugworker: dict[str, Any]) -> str:
    spec = debugworker.get("spec") or {}
    if spec.get("target"):
        return f"{spec['target'].get('type')}/{spec['target'].get('name')}"
    return ",".join(spec.get("targets") or [])


COLUMNS: dict[str, tuple[list[str], Row]] = {
    "workers": (
        ["name", "team", "role", "phase", "model", "state", "last-heartbeat", "health", "age"],
        lambda r, now: [
            r["name"],
            r.get("team"),
            r.get("role"),
            r.get("phase"),
            r.get("model"),
            r.get("state"),
            output.age(r.get("lastHeartbeat"), now),
            r.get("health"),
            _created(r, now),
        ],
    ),
    "teams": (
        ["name", "phase", "leader", "leader-ready", "workers-ready", "age"],
        lambda r, now: [
            r["name"],
            r.get("phase"),
            r.get("leaderName"),
            "yes" if r.get("leaderReady") else "no",
            f"{r.get('readyWorkers', 0)}/{r.get('totalWorkers', 0)}",
            _created(r, now),
        ],
    ),
    "humans": (
        ["name", "phase", "display-name", "email", "level", "age"],
        lambda r, now: [
            r["name"],
            r.get("phase"),
            r.get("displayName"),
            r.get("email"),
            r.get("permissionLevel"),
            _created(r, now),
        ],
    ),
    "managers": (
        ["name", "phase", "model", "runtime", "state", "version", "age"],
        lambda r, now: [
            r["name"],
            r.get("phase"),
            r.get("model"),
            r.get("runtime"),
            r.get("state"),
            r.get("version"),
            _created(r, now),
        ],
    ),
    "debugworkers": (
        ["name", "team", "phase", "target", "retention", "age"],
        lambda r, now: [
            r["metadata"]["name"],
            _team_of(r),
            (r.get("status") or {}).get("phase"),
            _target(r),
            (r.get("spec") or {}).get("retention"),
            _created(r, now),
        ],
    ),
}


def _names(values: list[str] | None) -> str:
    return ",".join(values or [])


# Appended to the default columns by ``-o wide``.
WIDE: dict[str, tuple[list[str], Row]] = {
    "workers": (
        ["runtime", "image", "container", "restarts", "last-exit"],
        lambda r, now: [
            r.get("runtime"),
            r.get("image"),
            r.get("containerState"),
            r.get("restarts"),
            r.get("lastExitReason") or r.get("lastExitCode"),
        ],
    ),
    "teams": (["image", "workers"], lambda r, now: [r.get("image"), _names(r.get("workerNames"))]),
    "humans": (["matrix-user", "rooms"], lambda r, now: [r.get("matrixUserID"), _names(r.get("rooms"))]),
    "managers": (["image", "container"], lambda r, now: [r.get("image"), r.get("containerState")]),
    "debugworkers": (
        ["message"],
        lambda r, now: [(r.get("status") or {}).get("message")],
    ),
}


def columns(plural: str, wide: bool = False) -> tuple[list[str], Row]:
    """Headers and the row function of a kind's table."""
    headers, row = COLUMNS[plural]
    if not wide:
        return headers, row
    more, extra = WIDE[plural]
    return [*headers, *more], lambda r, now: [*row(r, now), *extra(r, now)]


def name_of(resource: dict[str, Any]) -> str:
    return (resource.get("metadata") or {}).get("name") or resource.get("name", "")
