"""Docker backend: one container per instance on a dedicated network, through the Docker Engine API.

The ``docker`` SDK is imported only when this backend is used, so the embedded
mode runs without it. Every API call has a timeout; engine errors are mapped
onto the backend errors (5xx, timeouts, connection failures are temporary).

State mapping: ``running`` is Running. ``created``, ``paused`` and ``exited``
are Stopped, except an exit that is neither 0 nor a stop signal (SIGTERM, SIGKILL
or the image's STOPSIGNAL), an OOM kill, or an engine error, which are Failed.
Containers have the restart policy ``no``: the controller, not the engine, starts
a crashed program again (with a crash-loop backoff, controller/reconcilers/crashes.py),
so every backend behaves alike and each crash is seen and recorded. A container
found ``restarting`` (made by an older controller) or ``dead`` is Failed.

``watch`` follows the engine's event stream for this controller's containers
(controller/backends/docker_watch.py).
"""

from __future__ import annotations

import builtins
import logging
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings

from controller.backends.base import (
    LABEL_CONTROLLER,
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
    cpu_nanos,
    memory_bytes,
)

logger = logging.getLogger(__name__)
_NETWORK_LOCK = threading.Lock()

_STOPPED_STATES = {"created", "paused", "exited"}
_FAILED_STATES = {"restarting", "dead", "removing"}
_ENGINE_TIME = re.compile(r"^([^.]+?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


class DockerBackend(WorkerBackend):
    name = "docker"

    def __init__(
        self,
        controller_id: str | None = None,
        *,
        network: str | None = None,
        base_url: str | None = None,
        timeout: float = 30,
        stop_timeout: int = 10,
        pull_missing: bool = True,
    ):
        super().__init__(controller_id)
        self.network = network or settings.HICLAW_DOCKER_NETWORK
        self.base_url = base_url
        self.timeout = timeout
        self.stop_timeout = stop_timeout
        self.pull_missing = pull_missing
        self._client = None
        self._network_ready = False

    @property
    def client(self):
        """The SDK client, made on first use: building it asks the engine for its API version."""
        if self._client is None:
            import docker

            with engine_errors("connect to the Docker Engine"):
                if self.base_url:
                    self._client = docker.DockerClient(base_url=self.base_url, version="auto", timeout=self.timeout)
                else:
                    self._client = docker.from_env(version="auto", timeout=self.timeout)
        return self._client

    def stream_client(self):
        """A low-level client of its own for a long-lived stream, which would otherwise hold one
        of the shared client's pooled connections; the caller closes it."""
        import docker

        if self.base_url:
            return docker.APIClient(base_url=self.base_url, version="auto", timeout=self.timeout)
        return docker.from_env(version="auto", timeout=self.timeout).api

    # --- WorkerBackend -------------------------------------------------------------
    def create(self, spec: InstanceSpec) -> InstanceStatus:
        container = self._ours(spec.name)
        if container is None:
            self._ensure_network()
            container = self._create_container(spec)
        elif container.attrs["Config"]["Image"] != spec.image:
            raise InstanceConflict(
                f"instance {spec.name} runs image {container.attrs['Config']['Image']}, not {spec.image}: "
                "delete it before creating it again"
            )
        if container.attrs["State"]["Status"] != "running":
            with engine_errors(f"start {spec.name}"):
                container.start()
            logger.info("docker: started %s (%s/%s)", spec.name, spec.kind, spec.resource)
        return self.status(spec.name)

    def start(self, name: str) -> None:
        container = self._require(name)
        with engine_errors(f"start {name}"):
            container.start()
        logger.info("docker: started %s", name)

    def stop(self, name: str) -> None:
        container = self._ours(name)
        if container is None or container.attrs["State"]["Status"] not in ("running", "restarting", "paused"):
            return
        with engine_errors(f"stop {name}"):
            container.stop(timeout=self.stop_timeout)
        logger.info("docker: stopped %s", name)

    def delete(self, name: str) -> None:
        container = self._ours(name)
        if container is None:
            return
        try:
            with engine_errors(f"delete {name}"):
                container.remove(force=True, v=True)
        except InstanceNotFound:
            return  # removed meanwhile: the outcome we wanted
        logger.info("docker: deleted %s", name)

    def status(self, name: str) -> InstanceStatus:
        container = self._ours(name)
        if container is None:
            return MISSING
        return self._status_of(container.attrs)

    def list(self) -> list[InstanceInfo]:
        with engine_errors("list containers"):
            containers = self.client.containers.list(
                all=True, filters={"label": f"{LABEL_CONTROLLER}={self.controller_id}"}, ignore_removed=True
            )
        return [self.info(c.name, c.labels, self._status_of(c.attrs).state) for c in containers if self.owns(c.labels)]

    def logs(self, name: str, tail: int = 100) -> str:
        container = self._require(name)
        with engine_errors(f"read the logs of {name}"):
            data = container.logs(stdout=True, stderr=True, tail=tail)
        return data.decode("utf-8", errors="replace")

    def exec(self, name: str, cmd: builtins.list[str]) -> tuple[int, str]:
        container = self._require(name)
        if container.attrs["State"]["Status"] != "running":
            raise BackendError(f"instance {name} is not running: start it before running a command in it")
        with engine_errors(f"run a command in {name}"):
            result = container.exec_run(list(cmd), stdout=True, stderr=True)
        return result.exit_code, (result.output or b"").decode("utf-8", errors="replace")

    def watch(self, on_change: Callable[[InstanceInfo], None], stop: threading.Event) -> None:
        # Subscribed here, with our error mapping; followed in controller/backends/docker_watch.py.
        from controller.backends import docker_watch

        with engine_errors("follow the Docker Engine's events"):
            api = self.stream_client()
            stream = docker_watch.subscribe(api, self.controller_id)
        docker_watch.follow(self, api, stream, on_change, stop)

    # --- helpers -------------------------------------------------------------------
    def _ours(self, name: str):
        """The container of that name if it carries our controller label, else None."""
        check_instance_name(name)
        try:
            with engine_errors(f"inspect {name}"):
                container = self.client.containers.get(name)
        except InstanceNotFound:
            return None
        if not self.owns(container.labels):
            logger.warning("docker: container %s exists but belongs to another controller; ignoring it", name)
            return None
        return container

    def _require(self, name: str):
        container = self._ours(name)
        if container is None:
            raise InstanceNotFound(f"no instance named {name}")
        return container

    def _create_container(self, spec: InstanceSpec):
        options = {
            "name": spec.name,
            "labels": self.labels_for(spec),
            "environment": spec.all_env(),
            "network": self.network,
            "restart_policy": {"Name": "no"},
            # An init as PID 1 forwards stop signals and reaps the agent's children.
            "init": True,
            "detach": True,
            "nano_cpus": cpu_nanos(spec.cpu),
            "mem_limit": memory_bytes(spec.memory),
        }
        try:
            try:
                with engine_errors(f"create {spec.name}"):
                    container = self.client.containers.create(spec.image, **options)
            except ImageNotFound:
                if not self.pull_missing:
                    raise
                self._pull(spec.image)
                with engine_errors(f"create {spec.name}"):
                    container = self.client.containers.create(spec.image, **options)
        except InstanceConflict:
            # Created between our look-up and our create: judge that container as we would have.
            container = self._ours(spec.name)
            if container is None:
                raise InstanceConflict(f"the name {spec.name} is taken by a container of another controller") from None
            if container.attrs["Config"]["Image"] != spec.image:
                raise
            return container
        logger.info("docker: created %s (%s/%s) from %s", spec.name, spec.kind, spec.resource, spec.image)
        container.reload()
        return container

    def _pull(self, image: str) -> None:
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(image)
        logger.info("docker: pulling %s", image)
        # Without a tag the SDK would pull every tag of the repository.
        with engine_errors(f"pull {image}", missing=ImageNotFound):
            self.client.images.pull(repository, tag=tag or "latest")

    def _ensure_network(self) -> None:
        if self._network_ready:
            return
        # One creator per process: two concurrent creates of one name both succeed on
        # older engines, and containers then fail with "network … is ambiguous".
        with _NETWORK_LOCK:
            with engine_errors(f"list networks {self.network}"):
                same_name = [n for n in self.client.networks.list(names=[self.network]) if n.name == self.network]
            if not same_name:
                try:
                    with engine_errors(f"create network {self.network}"):
                        self.client.networks.create(self.network, driver="bridge", check_duplicate=True)
                    logger.info("docker: created network %s", self.network)
                except InstanceConflict:
                    pass  # created by another controller process meanwhile
            elif len(same_name) > 1:
                self._remove_duplicate_networks(same_name)
            self._network_ready = True

    def _remove_duplicate_networks(self, networks: builtins.list) -> None:
        """Keep the oldest of several networks sharing our name (left by a create race)."""
        for network in sorted(networks, key=lambda n: n.attrs.get("Created", ""))[1:]:
            try:
                with engine_errors(f"remove duplicate network {self.network}"):
                    network.remove()
                logger.warning("docker: removed a duplicate network %s (%s)", self.network, network.id[:12])
            except BackendError as error:
                logger.warning("docker: duplicate network %s (%s) kept: %s", self.network, network.id[:12], error)

    def _status_of(self, attrs: dict) -> InstanceStatus:
        state = attrs.get("State", {})
        engine_state = state.get("Status", "")
        networks = attrs.get("NetworkSettings", {}).get("Networks") or {}
        ip = (networks.get(self.network) or {}).get("IPAddress") or next(
            (n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), ""
        )
        common = {"image": attrs.get("Config", {}).get("Image", ""), "started_at": _engine_time(state.get("StartedAt"))}
        if engine_state == "running":
            return InstanceStatus(InstanceState.RUNNING, ip=ip, message="running", **common)
        common["finished_at"] = _engine_time(state.get("FinishedAt"))
        exit_code = state.get("ExitCode")
        if engine_state in _FAILED_STATES:
            return InstanceStatus(
                InstanceState.FAILED, exit_code=exit_code, message=f"{engine_state} (exit code {exit_code})", **common
            )
        if engine_state not in _STOPPED_STATES:
            return InstanceStatus(InstanceState.FAILED, message=f"unknown engine state {engine_state!r}", **common)
        if state.get("OOMKilled"):
            return InstanceStatus(
                InstanceState.FAILED, exit_code=exit_code, message="killed: out of memory", oom_killed=True, **common
            )
        if state.get("Error"):
            return InstanceStatus(InstanceState.FAILED, exit_code=exit_code, message=state["Error"], **common)
        if exit_code not in _clean_exit_codes(attrs):
            return InstanceStatus(
                InstanceState.FAILED, exit_code=exit_code, message=f"exited with code {exit_code}", **common
            )
        return InstanceStatus(InstanceState.STOPPED, exit_code=exit_code, message=engine_state, **common)


def _clean_exit_codes(attrs: dict) -> set[int]:
    """Exit codes of a program that ended because it was stopped, not because it broke."""
    codes = {0, 128 + signal.SIGTERM, 128 + signal.SIGKILL}
    stop_signal = (attrs.get("Config", {}).get("StopSignal") or "").upper()
    if stop_signal:
        if stop_signal.isdigit():
            codes.add(128 + int(stop_signal))
        else:
            name = stop_signal if stop_signal.startswith("SIG") else f"SIG{stop_signal}"
            if hasattr(signal.Signals, name):
                codes.add(128 + signal.Signals[name])
    return codes


def _engine_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times carry nanoseconds, which datetime cannot hold; "0001-01-01…" means never."""
    match = _ENGINE_TIME.match(value or "")
    if value is None or not match or value.startswith("0001-"):
        return None
    head, fraction, zone = match.groups()
    micro = f".{fraction[:6]}" if fraction else ""
    return datetime.fromisoformat(f"{head}{micro}{'+00:00' if zone == 'Z' else zone}")


@contextmanager
def engine_errors(action: str, missing: type[BackendError] = InstanceNotFound) -> Iterator[None]:
    """Turn SDK and transport errors into backend errors that say what we were doing.

    ``missing`` is raised for a 404 that is not about an image (a container or network by default).
    """
    import requests
    from docker import errors

    try:
        yield
    except errors.ImageNotFound as exc:
        raise ImageNotFound(f"cannot {action}: image not found ({exc.explanation or exc})") from exc
    except errors.NotFound as exc:
        raise missing(f"cannot {action}: {exc.explanation or exc}") from exc
    except errors.APIError as exc:
        status = exc.status_code or 0
        detail = exc.explanation or str(exc)
        if status == 409:
            raise InstanceConflict(f"cannot {action}: {detail}") from exc
        if status >= 500:
            raise BackendUnavailable(f"cannot {action}: the Docker Engine answered {status}: {detail}") from exc
        raise BackendError(f"cannot {action}: {detail}") from exc
    except (requests.exceptions.RequestException, errors.DockerException, OSError) as exc:
        raise BackendUnavailable(f"cannot {action}: the Docker Engine is not answering ({exc})") from exc
