"""Process backend, the embedded default: each instance is a local program in its own session.

State lives on disk under ``<DATA_DIR>/instances/<name>/`` so a restarted
controller finds its instances again: ``instance.json`` (spec, labels; mode
0600 as the env carries the agent token), ``pid`` (pid, kernel start time),
``log`` (stdout and stderr), ``exit`` (written when a child of this controller
process exits) and ``stopped`` (present while the controller keeps it stopped).

A pid counts as ours only while the kernel start time in /proc/<pid>/stat is
the one recorded, so a recycled pid is never taken for a running instance.
A program that ends on its own with code 0 is Stopped; any other end that the
controller did not ask for is Failed. Nothing restarts a failed program here:
the reconciler does, by calling ``start`` (after a crash-loop backoff). ``delete`` removes the state
directory (with the default workdir inside it), never a workdir the spec named:
that is the worker's workspace. ``watch`` reports exits at once through pidfds
(controller/backends/process_watch.py).
"""

from __future__ import annotations

import builtins
import collections
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeGuard

from django.conf import settings

from controller.backends.base import (
    MISSING,
    BackendError,
    BackendUnavailable,
    ImageNotFound,
    InstanceConflict,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    InstanceState,
    InstanceStatus,
    WorkerBackend,
    check_instance_name,
)

logger = logging.getLogger(__name__)

LOG_ROTATE_BYTES = 10 * 1024 * 1024
_POLL_SECONDS = 0.05
_HAS_PROC = Path("/proc/self/stat").exists()


class ProcessBackend(WorkerBackend):
    name = "process"

    def __init__(
        self,
        controller_id: str | None = None,
        *,
        state_dir: Path | str | None = None,
        stop_timeout: float = 10,
        exec_timeout: float = 60,
    ):
        super().__init__(controller_id)
        self.state_dir = Path(state_dir) if state_dir else Path(settings.DATA_DIR) / "instances"
        self.stop_timeout = stop_timeout
        self.exec_timeout = exec_timeout

    # --- WorkerBackend -------------------------------------------------------------
    def create(self, spec: InstanceSpec) -> InstanceStatus:
        if not spec.command:
            raise ImageNotFound(f"instance {spec.name}: the process backend needs a command to run")
        with self._lock(spec.name):
            record = self._record(spec.name)
            if record is None:
                record = self._write_record(spec)
            elif (record["spec"]["image"], tuple(record["spec"]["command"])) != (spec.image, spec.command):
                raise InstanceConflict(
                    f"instance {spec.name} runs a different image or command: delete it before creating it again"
                )
            if not self._alive(spec.name):
                self._spawn(spec.name, record)
        return self.status(spec.name)

    def start(self, name: str) -> None:
        with self._lock(name):
            record = self._record(name)
            if record is None:
                raise InstanceNotFound(f"no instance named {name}")
            if not self._alive(name):
                self._spawn(name, record)

    def stop(self, name: str) -> None:
        with self._lock(name):
            if self._record(name) is not None:
                self._terminate(name)

    def delete(self, name: str) -> None:
        with self._lock(name):
            if self._record(name) is None:
                return
            self._terminate(name)
            shutil.rmtree(self._dir(name), ignore_errors=True)
        logger.info("process: deleted %s", name)

    def status(self, name: str) -> InstanceStatus:
        record = self._record(name)
        if record is None:
            return MISSING
        directory, image = self._dir(name), record["spec"]["image"]
        run = _read_json(directory / "pid")
        if run is None:
            return InstanceStatus(InstanceState.STOPPED, image=image, message="created, never started")
        started_at = datetime.fromisoformat(run["started_at"])
        if _running(run):
            return InstanceStatus(
                InstanceState.RUNNING, ip="127.0.0.1", image=image, started_at=started_at, message="running"
            )
        ended = _read_json(directory / "exit")
        if ended is not None and ended["pid"] != run["pid"]:
            ended = None  # how an earlier run ended
        code = ended["code"] if ended else None
        finished_at = datetime.fromisoformat(ended["at"]) if ended and ended.get("at") else None
        common = {"image": image, "started_at": started_at, "exit_code": code, "finished_at": finished_at}
        if (directory / "stopped").exists():
            return InstanceStatus(InstanceState.STOPPED, message="stopped by the controller", **common)
        if code == 0:
            return InstanceStatus(InstanceState.STOPPED, message="exited with code 0", **common)
        if code is None:
            message = "the process is gone and the controller did not stop it (exit code unknown)"
        else:
            message = _describe_exit(code)
        return InstanceStatus(InstanceState.FAILED, message=message, **common)

    def list(self) -> list[InstanceInfo]:
        if not self.state_dir.is_dir():
            return []
        found = []
        for directory in sorted(self.state_dir.iterdir()):
            record = None if directory.name.startswith(".") else self._record(directory.name)
            if record is not None:
                found.append(self.info(directory.name, record["labels"], self.status(directory.name).state))
        return found

    def logs(self, name: str, tail: int = 100) -> str:
        self._require(name)
        try:
            with open(self._dir(name) / "log", "rb") as log:
                lines = collections.deque(log, maxlen=max(tail, 0))
        except FileNotFoundError:
            return ""
        return b"".join(lines).decode("utf-8", errors="replace")

    def exec(self, name: str, cmd: builtins.list[str]) -> tuple[int, str]:
        spec = self._require(name)["spec"]
        workdir = self._workdir(name, spec)
        try:
            done = subprocess.run(  # noqa: S603 - the command is the caller's, run without a shell
                list(cmd),
                cwd=workdir,
                env={**_base_env(workdir), **spec["env"]},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=self.exec_timeout,
                check=False,
            )
        except FileNotFoundError:
            return 127, f"{cmd[0]}: command not found\n"
        except PermissionError:
            return 126, f"{cmd[0]}: permission denied\n"
        except subprocess.TimeoutExpired:
            raise BackendError(f"command in {name} did not finish within {self.exec_timeout}s") from None
        return done.returncode, done.stdout.decode("utf-8", errors="replace")

    def watch(self, on_change: Callable[[InstanceInfo], None], stop: threading.Event) -> None:
        # controller/backends/process_watch.py: pidfds, and a rescan of the state directory.
        from controller.backends.process_watch import ProcessWatch

        ProcessWatch(self, self.state_dir, on_change).run(stop)

    # --- state directory -----------------------------------------------------------
    def _dir(self, name: str) -> Path:
        return self.state_dir / check_instance_name(name)

    def _record(self, name: str) -> dict | None:
        """instance.json of an instance of ours, else None."""
        record = _read_json(self._dir(name) / "instance.json")
        if record is None or not self.owns(record.get("labels")):
            return None
        return record

    def _require(self, name: str) -> dict:
        record = self._record(name)
        if record is None:
            raise InstanceNotFound(f"no instance named {name}")
        return record

    def _write_record(self, spec: InstanceSpec) -> dict:
        directory = self._dir(spec.name)
        if (directory / "instance.json").exists():
            raise InstanceConflict(f"the name {spec.name} is taken by an instance of another controller")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        record = {
            "spec": {**asdict(spec), "env": spec.all_env(), "command": list(spec.command)},
            "labels": self.labels_for(spec),
        }
        _write_json(directory / "instance.json", record)
        logger.info("process: created %s (%s/%s)", spec.name, spec.kind, spec.resource)
        return record

    def _workdir(self, name: str, spec: dict) -> Path:
        workdir = Path(spec["workdir"]) if spec.get("workdir") else self._dir(name) / "workdir"
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Serialize changes to one instance across threads and processes (Celery workers)."""
        locks = self.state_dir / ".locks"
        locks.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(locks / f"{check_instance_name(name)}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # --- processes -----------------------------------------------------------------
    def _alive(self, name: str) -> bool:
        return _running(_read_json(self._dir(name) / "pid"))

    def _spawn(self, name: str, record: dict) -> None:
        directory, spec = self._dir(name), record["spec"]
        workdir = self._workdir(name, spec)
        for marker in ("stopped", "exit"):
            (directory / marker).unlink(missing_ok=True)
        log_path = directory / "log"
        if log_path.exists() and log_path.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(log_path, directory / "log.1")  # keep one old log, so restarts never fill the disk
        try:
            with open(log_path, "ab") as log:
                child = subprocess.Popen(  # noqa: S603 - the command comes from the spec, run without a shell
                    spec["command"],
                    cwd=workdir,
                    env={**_base_env(workdir), **spec["env"]},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session and process group: stop signals the whole group, and a
                    # controller restart (or Ctrl-C in its terminal) does not take workers down.
                    start_new_session=True,
                )
        except (FileNotFoundError, PermissionError) as exc:
            raise ImageNotFound(f"instance {name}: cannot run {spec['command'][0]}: {exc.strerror}") from exc
        except OSError as exc:
            raise BackendError(f"instance {name}: cannot start: {exc}") from exc
        run = {"pid": child.pid, "start_ticks": _start_ticks(child.pid), "started_at": datetime.now(UTC).isoformat()}
        _write_json(directory / "pid", run)
        threading.Thread(target=_reap, args=(child, directory), name=f"reap-{name}", daemon=True).start()
        logger.info("process: started %s (pid %d)", name, child.pid)

    def _terminate(self, name: str) -> None:
        """Mark the instance stopped, then SIGTERM its process group and SIGKILL it after the grace period."""
        directory = self._dir(name)
        (directory / "stopped").touch()
        run = _read_json(directory / "pid")
        if not _running(run):
            return
        pid = run["pid"]
        _signal_group(pid, signal.SIGTERM)
        gone = _wait_gone(run, self.stop_timeout)
        # Also after a clean exit of the leader: anything it left behind in its group goes too.
        _signal_group(pid, signal.SIGKILL)
        if not gone and not _wait_gone(run, 5):
            raise BackendUnavailable(f"instance {name} (pid {pid}) did not die after SIGKILL")
        logger.info("process: stopped %s (pid %d)", name, pid)


def _base_env(workdir: Path) -> dict[str, str]:
    """What every instance gets before its own env: nothing of the controller's secrets."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        # The reference worker is Python: unbuffered output reaches the log as it is printed.
        "PYTHONUNBUFFERED": "1",
    }
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    return env


def _start_ticks(pid: int) -> int:
    """When the kernel started ``pid``, in clock ticks since boot (0 where there is no /proc)."""
    stat = _proc_stat(pid) if _HAS_PROC else None
    # Read right after the fork, before our reaper thread runs: the pid is ours, if only as a zombie.
    return int(stat[19]) if stat else 0


def _running(run: dict | None) -> TypeGuard[dict]:
    """The recorded process still exists, is the same process (not a recycled pid), and is not a zombie."""
    if run is None:
        return False
    if not _HAS_PROC:
        # Without /proc (macOS) a recycled pid cannot be told apart: settle for "exists".
        try:
            os.kill(run["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    stat = _proc_stat(run["pid"])
    return stat is not None and stat[0] not in ("Z", "X") and int(stat[19]) == run["start_ticks"]


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on; field 22 (starttime) is index 19."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces and parentheses: split after the last ")".
    return stat[stat.rindex(")") + 2 :].split()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_gone(run: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _running(run):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def _describe_exit(code: int) -> str:
    if code > 128:
        try:
            return f"killed by signal {signal.Signals(code - 128).name}"
        except ValueError:
            pass  # an exit code above 128 that is no signal number
    return f"exited with code {code}"


def _reap(child: subprocess.Popen, directory: Path) -> None:
    """Wait for a child of this process (so it leaves no zombie) and record how it ended."""
    code = child.wait()
    if code < 0:
        code = 128 - code  # shell convention, as Docker reports it: killed by signal N -> 128+N
    with suppress(FileNotFoundError):  # the instance was deleted meanwhile
        _write_json(directory / "exit", {"pid": child.pid, "code": code, "at": datetime.now(UTC).isoformat()})


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None


def _write_json(path: Path, data: dict) -> None:
    """Write atomically (readers see the old or the new file, never half of one), readable only by us."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(temporary, path)
