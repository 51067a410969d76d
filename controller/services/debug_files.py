"""What a DebugWorker's exports and reports wrote, for those who may use it.

Its exports go under ``debug/<name>/matrix-export/`` and its reports under
``debug/<name>/output/``; only those two folders are listed and read here,
each path normalised by the storage key rules first (so ``..``, absolute
paths and backslashes never resolve), and only for callers the policy lets
use the DebugWorker (``policy.authorize_debug_use``). The API, the CLI
(through the API) and the dashboard all go through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controller import policy
from controller.clients.storage import InvalidKey, ObjectNotFound, normalize_key
from controller.connections import Connections, default_connections
from controller.models import DebugWorker
from controller.services.debug_export import EXPORT_FOLDER
from controller.services.debug_report import OUTPUT_FOLDER
from controller.services.debug_targets import output_prefix
from controller.services.debugworkers import InvalidDebugRequest

FOLDERS = (EXPORT_FOLDER, OUTPUT_FOLDER)
MAX_LISTED = 1000


@dataclass(frozen=True)
class DebugFile:
    """One written file; ``path`` is relative to ``debug/<name>/``."""

    path: str
    size: int
    etag: str
    modified: datetime


def usable(principal: policy.Principal, name: str) -> DebugWorker:
    """The named DebugWorker, if ``principal`` may use it; otherwise the 404 a missing one gets."""
    debugworker = DebugWorker.objects.filter(name=name).first()
    if debugworker is None:
        raise policy.NotFound("DebugWorker", name)
    policy.authorize_debug_use(principal, debugworker)
    return debugworker


def files(
    principal: policy.Principal, debugworker: DebugWorker, connections: Connections | None = None
) -> list[DebugFile]:
    """Its exports and reports, newest first (at most ``MAX_LISTED``)."""
    policy.authorize_debug_use(principal, debugworker)
    storage = (connections or default_connections()).storage
    prefix = output_prefix(debugworker)
    found = [
        DebugFile(info.key[len(prefix) :], info.size, info.etag, info.last_modified)
        for folder in FOLDERS
        for info in storage.list(prefix + folder)
    ]
    found.sort(key=lambda item: (item.modified, item.path), reverse=True)
    return found[:MAX_LISTED]


def read(
    principal: policy.Principal, debugworker: DebugWorker, path: str, connections: Connections | None = None
) -> bytes:
    """The content of one export or report; ``path`` is relative to ``debug/<name>/``."""
    policy.authorize_debug_use(principal, debugworker)
    relative = relative_path(path)
    try:
        return (connections or default_connections()).storage.get(output_prefix(debugworker) + relative)
    except ObjectNotFound:
        raise policy.NotFound("File", relative, "path") from None


def relative_path(path: str) -> str:
    """``path`` normalised, if it names a file in one of the two folders; otherwise a 400 naming it."""
    try:
        relative = normalize_key(path)
    except InvalidKey as error:
        raise InvalidDebugRequest("path", str(error)) from None
    if not relative.startswith(FOLDERS) or relative in FOLDERS:
        raise InvalidDebugRequest("path", f"must be a file under {' or '.join(FOLDERS)}")
    return relative
