"""What the workspace browser shows of a DebugWorker: its sources, their listings, one file.

A DebugWorker reaches two kinds of storage areas, each a list of *sources*:

- ``workspace``: one per mounted target worker (``debug_targets.mounted_targets``),
  at that worker's storage prefix;
- ``output``: its own exports (``debug/<name>/matrix-export/``) and reports
  (``debug/<name>/output/``).

Every key a browser asks for goes through ``key_of``, which accepts a source
only if it is one of the DebugWorker's and a path only if the storage key
rules normalise it to a key inside that source (``..``, absolute paths,
backslashes, NUL are refused; ``debug_targets.workspace_key`` does it for
workspaces). The dashboard page, its fragments and the WebSocket all call it.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.clients.storage import InvalidKey, LinkRefused, ObjectNotFound, Storage, normalize_key
from controller.models import DebugWorker
from controller.services import debug_targets
from controller.services.debug_export import EXPORT_FOLDER
from controller.services.debug_report import OUTPUT_FOLDER
from controller.services.debug_targets import NotReadable
from controller.services.redaction import redact_file

WORKSPACE, OUTPUT = "workspace", "output"
# The DebugWorker's own areas under debug/<name>/, named as the browser shows them.
OUTPUT_TARGETS = {EXPORT_FOLDER.rstrip("/"): "Exports", OUTPUT_FOLDER.rstrip("/"): "Reports"}
VIEW_LIMIT = 256 * 1024  # bytes of a file shown; the rest is cut with a notice


@dataclass(frozen=True)
class Source:
    """One listed area: ``prefix`` is the storage prefix its paths are relative to."""

    area: str
    target: str
    prefix: str

    @property
    def label(self) -> str:
        return OUTPUT_TARGETS.get(self.target, self.target) if self.area == OUTPUT else self.target


@dataclass(frozen=True)
class Entry:
    """A file of a source, by its path relative to the source's prefix."""

    path: str
    size: int
    etag: str


@dataclass(frozen=True)
class Blob:
    """A file read for viewing: at most ``VIEW_LIMIT`` bytes of it."""

    data: bytes
    size: int

    @property
    def truncated(self) -> bool:
        return self.size > len(self.data)


def sources(debugworker: DebugWorker) -> list[Source]:
    """Its mounted workspaces (as its last reconcile recorded them), then its exports and reports."""
    found = [
        Source(WORKSPACE, target, debug_targets.workspace_prefix(debugworker, target))
        for target in debug_targets.mounted_targets(debugworker)
    ]
    base = debug_targets.output_prefix(debugworker)
    return found + [Source(OUTPUT, target, f"{base}{target}/") for target in OUTPUT_TARGETS]


def source_of(debugworker: DebugWorker, area: str, target: str) -> Source:
    """The source named by a request, or ``NotReadable`` naming the field that is wrong."""
    if area not in (WORKSPACE, OUTPUT):
        raise NotReadable("area", f"must be {WORKSPACE!r} or {OUTPUT!r}")
    for source in sources(debugworker):
        if (source.area, source.target) == (area, target):
            return source
    if area == WORKSPACE:
        debug_targets.workspace_prefix(debugworker, target)  # raises with the usual message
    raise NotReadable("target", f"must be one of {', '.join(OUTPUT_TARGETS)}")


def key_of(debugworker: DebugWorker, area: str, target: str, path: str) -> str:
    """The storage key of ``path`` in one of its sources, or ``NotReadable``."""
    if not isinstance(path, str) or not isinstance(target, str):
        raise NotReadable("path", "must be text")
    if area == WORKSPACE:
        return debug_targets.workspace_key(debugworker, target, path)
    source = source_of(debugworker, area, target)
    try:
        return source.prefix + normalize_key(path)
    except InvalidKey as error:
        raise NotReadable("path", str(error)) from None


def listing(storage: Storage, source: Source) -> dict[str, Entry]:
    """Every file under a source, by relative path (a storage that cannot list it shows none)."""
    try:
        found = storage.list(source.prefix)
        return {
            info.key[len(source.prefix) :]: Entry(info.key[len(source.prefix) :], info.size, info.etag)
            for info in found
        }
    except (ObjectNotFound, LinkRefused):
        return {}


def changes(source: Source, before: dict[str, Entry], after: dict[str, Entry]) -> list[dict]:
    """The events that turn ``before`` into ``after``, compared on etag, in path order."""
    events = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if new is None:
            kind = "deleted"
        elif old is None:
            kind = "created"
        elif old.etag != new.etag or old.size != new.size:
            kind = "modified"
        else:
            continue
        shown = new or old
        assert shown is not None
        events.append(event(kind, source, shown))
    return events


def event(kind: str, source: Source, entry: Entry) -> dict:
    return {
        "type": kind,
        "area": source.area,
        "target": source.target,
        "path": entry.path,
        "size": entry.size,
        "etag": entry.etag,
    }


def read(storage: Storage, key: str) -> Blob:
    """At most ``VIEW_LIMIT`` bytes of ``key``; ``ObjectNotFound`` when it is gone.

    A symbolic link in a filesystem workspace is refused by the storage
    (``LinkRefused``) and reported as not readable, never followed. Secrets in
    it (an agent's config holds its credentials) are redacted.
    """
    try:
        data = storage.get(key)
    except LinkRefused:
        raise NotReadable("path", "it leads through a symbolic link, which is never followed") from None
    return Blob(redact_file(data)[:VIEW_LIMIT], len(data))
