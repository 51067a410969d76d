"""The WorkerBackend interface: what a reconciler asks of Docker, Kubernetes or local processes.

A backend runs one instance per Worker, Manager or DebugWorker, labels it as
ours, and reports its state. Errors come in two kinds so the reconciler can
choose between retrying (``BackendUnavailable``) and marking Failed (the rest).
"""

from __future__ import annotations

import abc
import builtins
import enum
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from django.conf import settings

LABEL_CONTROLLER = "hiclaw.io/controller"
LABEL_KIND = "hiclaw.io/kind"
LABEL_NAME = "hiclaw.io/name"
LABEL_TEAM = "hiclaw.io/team"

INSTANCE_KINDS = ("worker", "manager", "debugworker")

# Container names and state directory names: no path separators, no leading dot.
INSTANCE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")


class BackendError(Exception):
    """A backend call failed for good: retrying the same call will fail the same way."""

    temporary: ClassVar[bool] = False


class BackendUnavailable(BackendError):
    """The engine is down, slow or overloaded: retry later with backoff."""

    temporary = True


class ImageNotFound(BackendError):
    """The image (for the process backend: the program) does not exist."""


class InstanceNotFound(BackendError):
    """No instance of ours has that name."""


class InstanceConflict(BackendError):
    """The name is taken by another controller's instance, or ours runs a different image."""


class InvalidSpec(BackendError, ValueError):
    """An InstanceSpec field is malformed (name, kind, cpu or memory)."""


class InstanceState(enum.StrEnum):
    RUNNING = "Running"
    STOPPED = "Stopped"
    MISSING = "Missing"
    FAILED = "Failed"


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a backend needs to create one instance; built by the reconciler."""

    name: str  # external name, already prefixed: "hiclaw-worker-alice"
    kind: str  # one of INSTANCE_KINDS
    resource: str  # the resource's own name: "alice"
    team: str = ""
    image: str = ""
    command: tuple[str, ...] = ()  # process backend only; containers run their image's command
    env: dict[str, str] = field(default_factory=dict)
    # Credentials (the agent's API token, a Matrix access token): kept apart so a backend that
    # can hold them better than in plain env does (Kubernetes: a Secret the pod reads).
    secret_env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    cpu: str | None = None  # Kubernetes quantity: "500m", "2"
    memory: str | None = None  # Kubernetes quantity: "512Mi", "2Gi"
    workdir: str | None = None  # process backend only
    # Ports the agent serves (a Worker's spec.expose); Kubernetes makes a Service for them.
    ports: tuple[int, ...] = ()

    def all_env(self) -> dict[str, str]:
        """What the agent finds in its environment: ``env`` and ``secret_env`` together."""
        return {**self.env, **self.secret_env}

    def __post_init__(self) -> None:
        check_instance_name(self.name)
        if self.kind not in INSTANCE_KINDS:
            raise InvalidSpec(f"kind must be one of {', '.join(INSTANCE_KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "ports", tuple(self.ports))
        if any(not isinstance(port, int) or not 1 <= port <= 65535 for port in self.ports):
            raise InvalidSpec(f"ports must be numbers from 1 to 65535, got {list(self.ports)!r}")
        # Parse now so a bad quantity fails when the spec is built, not half-way through a create.
        cpu_nanos(self.cpu)
        memory_bytes(self.memory)


@dataclass(frozen=True)
class InstanceStatus:
    state: InstanceState
    ip: str = ""
    image: str = ""
    started_at: datetime | None = None  # aware; the last start
    exit_code: int | None = None  # when not running and known; 128+N for "killed by signal N"
    message: str = ""
    finished_at: datetime | None = None  # aware; when the last run ended, where the backend knows
    oom_killed: bool = False  # the last run was killed for using more memory than its limit

    @property
    def running(self) -> bool:
        return self.state == InstanceState.RUNNING


MISSING = InstanceStatus(InstanceState.MISSING, message="no such instance")


@dataclass(frozen=True)
class InstanceInfo:
    """One entry of ``WorkerBackend.list()``: enough to match instances with resources."""

    name: str
    kind: str
    resource: str
    team: str
    labels: dict[str, str]
    state: InstanceState


class WorkerBackend(abc.ABC):
    """Runs instances labelled ``hiclaw.io/controller=<controller_id>`` and sees only those.

    Instances of another controller sharing the engine are treated as absent:
    ``status`` says Missing, ``delete`` leaves them alone, ``create`` refuses
    to take their name.
    """

    name: ClassVar[str]

    def __init__(self, controller_id: str | None = None):
        self.controller_id = controller_id or settings.HICLAW_CONTROLLER_ID

    def labels_for(self, spec: InstanceSpec) -> dict[str, str]:
        """The spec's labels with the system labels over them (system labels win)."""
        return {
            **spec.labels,
            LABEL_CONTROLLER: self.controller_id,
            LABEL_KIND: spec.kind,
            LABEL_NAME: spec.resource,
            LABEL_TEAM: spec.team,
        }

    def owns(self, labels: dict[str, str] | None) -> bool:
        return (labels or {}).get(LABEL_CONTROLLER) == self.controller_id

    def info(self, name: str, labels: dict[str, str], state: InstanceState) -> InstanceInfo:
        return InstanceInfo(
            name=name,
            kind=labels.get(LABEL_KIND, ""),
            resource=labels.get(LABEL_NAME, ""),
            team=labels.get(LABEL_TEAM, ""),
            labels=labels,
            state=state,
        )

    @abc.abstractmethod
    def create(self, spec: InstanceSpec) -> InstanceStatus:
        """Create and start the instance; idempotent.

        If an instance of ours with that name and image exists it is kept (and
        started if it is not running); other spec changes need delete + create.
        A different image raises ``InstanceConflict``.
        """

    @abc.abstractmethod
    def start(self, name: str) -> None:
        """Start a stopped instance; raises ``InstanceNotFound`` if there is none."""

    @abc.abstractmethod
    def stop(self, name: str) -> None:
        """Stop the instance, keeping it for a later start; a missing or stopped one is fine."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Stop and remove the instance; a missing one is fine."""

    @abc.abstractmethod
    def status(self, name: str) -> InstanceStatus:
        """The instance's state; Missing when there is no instance of ours by that name."""

    @abc.abstractmethod
    def list(self) -> list[InstanceInfo]:
        """Every instance of this controller, running or not."""

    @abc.abstractmethod
    def logs(self, name: str, tail: int = 100) -> str:
        """The last ``tail`` lines the instance printed (stdout and stderr)."""

    @abc.abstractmethod
    def exec(self, name: str, cmd: builtins.list[str]) -> tuple[int, str]:
        """Run ``cmd`` inside the instance; returns its exit code and combined output."""

    def watch(self, on_change: Callable[[InstanceInfo], None], stop: threading.Event) -> None:
        """Call ``on_change`` for every change to one of this controller's instances until ``stop``
        is set; raise ``BackendUnavailable`` when the stream breaks (the caller starts it again).
        Each (re)connection first reports every instance, so nothing that changed while the
        stream was down is lost; an instance killed from outside is reported within a second
        or two, and a set ``stop`` ends the watch promptly.

        A backend without an event stream returns at once: the periodic resync then notices
        changes on its own.
        """
        return None


def check_instance_name(name: str) -> str:
    if not isinstance(name, str) or not INSTANCE_NAME_PATTERN.match(name):
        raise InvalidSpec(
            f"instance name {name!r} is invalid: use letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, at most 128 characters"
        )
    return name


_CPU = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:[eE](\d+)|([KMGTPE]i|[kMGTPE]))?$")
_MEMORY_FACTORS = {
    "": 1,
    **{suffix: 1000 ** (i + 1) for i, suffix in enumerate("kMGTPE")},
    **{f"{suffix}i": 1024 ** (i + 1) for i, suffix in enumerate("KMGTPE")},
}


def cpu_nanos(quantity: str | None) -> int | None:
    """A Kubernetes CPU quantity ("500m", "2", "0.5") in billionths of a CPU (Docker's NanoCpus)."""
    if quantity is None or quantity == "":
        return None
    match = _CPU.match(str(quantity).strip())
    if not match:
        raise InvalidSpec(f"cpu must be a quantity such as '500m' or '2', got {quantity!r}")
    nanos = int(Decimal(match[1]) * (10**6 if match[2] else 10**9))
    if nanos <= 0:
        raise InvalidSpec(f"cpu must be more than zero, got {quantity!r}")
    return nanos


def memory_bytes(quantity: str | None) -> int | None:
    """A Kubernetes memory quantity ("512Mi", "2Gi", "1G", "129e6") in bytes."""
    if quantity is None or quantity == "":
        return None
    match = _MEMORY.match(str(quantity).strip())
    if not match:
        raise InvalidSpec(f"memory must be a quantity such as '512Mi' or '2Gi', got {quantity!r}")
    factor = 10 ** int(match[2]) if match[2] else _MEMORY_FACTORS[match[3] or ""]
    size = int(Decimal(match[1]) * factor)
    if size <= 0:
        raise InvalidSpec(f"memory must be more than zero, got {quantity!r}")
    return size
