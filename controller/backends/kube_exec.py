"""Running a command in an instance's pod through the API server's exec stream (a websocket the
API server relays to the pod's kubelet).

The exit status arrives on the stream's error channel as a Status: Success, or Failure with
reason NonZeroExitCode and the code among its causes. Anything else — no status at all, as when
no kubelet answers — is an error saying the command's outcome is unknown.
"""

from __future__ import annotations

import json

from controller.backends.base import BackendError
from controller.backends.kube_api import api_errors
from controller.backends.kube_objects import CONTAINER

EXEC_TIMEOUT_SECONDS = 60
ERROR_CHANNEL = 3


def exit_code(status_text: str) -> int | None:
    """The command's exit code from the error channel's Status, or None when it carries none."""
    try:
        status = json.loads(status_text) if status_text else {}
    except ValueError:
        return None
    if status.get("status") == "Success":
        return 0
    if status.get("status") == "Failure" and status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message", "1"))
    return None


def run_in_pod(core, namespace: str, name: str, cmd: list[str]) -> tuple[int, str]:
    """Run ``cmd`` in the agent container; its exit code and stdout and stderr together."""
    from kubernetes.stream import stream

    with api_errors("create", "pods/exec", name, namespace=namespace):
        session = stream(
            core.connect_get_namespaced_pod_exec,
            name,
            namespace,
            container=CONTAINER,
            command=cmd,
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
        try:
            session.run_forever(timeout=EXEC_TIMEOUT_SECONDS)
            if session.is_open():
                raise BackendError(f"cannot run a command in {name}: it did not finish within {EXEC_TIMEOUT_SECONDS} s")
            output = session.read_all()
            status_text = session.read_channel(ERROR_CHANNEL)
        finally:
            session.close()
    code = exit_code(status_text)
    if code is None:
        raise BackendError(
            f"cannot run a command in {name}: the pod's node sent back no exit status "
            f"(no kubelet answered the API server){': ' + status_text if status_text else ''}"
        )
    return code, output
