"""What a DebugWorker mirrors: its target workers, their workspaces, and the keys it may read.

One place answers "which workspaces does this DebugWorker reach?" for the
reconciler (``status.mountedWorkspaces``), the workspace API its instance
reads through, the debug exports and reports, and the workspace browser.
A key is readable only when it lies inside one of the recorded workspaces;
every path is normalised by the storage key rules first, so ``..``, absolute
paths, backslashes and other workers' prefixes never resolve to a readable key.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.clients.storage import InvalidKey, normalize_key
from controller.models import DebugWorker, Team, Worker
from controller.naming import storage_prefix


@dataclass(frozen=True)
class Targets:
    """The workers a DebugWorker's spec names, split into those that exist and those that do not."""

    workers: tuple[str, ...]
    missing: tuple[str, ...]


def resolve(debugworker: DebugWorker) -> Targets:
    """Its targets now: a team target is the leader, then the workers, in spec order."""
    spec = debugworker.typed_spec
    target = spec.target
    if target is not None and target.type == "team":
        team = Team.objects.filter(name=target.name, deletion_requested_at__isnull=True).first()
        if team is None:
            return Targets((), (f"team/{target.name}",))
        team_spec = team.typed_spec
        names = [team_spec.leader.name, *(member.name for member in team_spec.workers)]
    elif target is not None:
        names = [target.name]
    else:
        names = list(spec.targets or [])
    found = set(
        Worker.objects.filter(name__in=names, deletion_requested_at__isnull=True).values_list("name", flat=True)
    )
    return Targets(
        tuple(name for name in names if name in found),
        tuple(f"worker/{name}" for name in names if name not in found),
    )


def mounted_workspaces(workers: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    """``status.mountedWorkspaces``: each target worker and its storage prefix."""
    return [{"worker": name, "storagePath": storage_prefix("worker", name)} for name in workers]


def mounted_targets(debugworker: DebugWorker) -> list[str]:
    """The workers whose workspaces it reaches, as its last reconcile recorded them."""
    return [entry["worker"] for entry in debugworker.mounted_workspaces if isinstance(entry, dict)]


class NotReadable(Exception):
    """A target or path outside what a DebugWorker mounts; ``field`` names the request field."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def workspace_prefix(debugworker: DebugWorker, target: str) -> str:
    """The storage prefix of ``target``'s workspace, if this DebugWorker mounts it."""
    if target not in mounted_targets(debugworker):
        raise NotReadable("target", f"{target!r} is not a workspace debugworker/{debugworker.name} mounts")
    return storage_prefix("worker", target)


def workspace_key(debugworker: DebugWorker, target: str, path: str) -> str:
    """The storage key of ``path`` inside ``target``'s mounted workspace, or ``NotReadable``."""
    prefix = workspace_prefix(debugworker, target)
    try:
        return prefix + normalize_key(path)
    except InvalidKey as error:
        raise NotReadable("path", str(error)) from None


def output_prefix(debugworker: DebugWorker) -> str:
    """Where its exports and reports are written: ``debug/<name>/``."""
    return f"debug/{debugworker.name}/"
