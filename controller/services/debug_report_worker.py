"""One worker's part of a debug report: state, workspace files, sessions, heartbeats, audit, messages.

Each part is bounded (how many rows or files, and how many characters) and
built from text redacted by ``debug_markdown``, so a report stays readable and
secret-free whatever the workspace holds.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime

from controller.clients.storage import ObjectInfo, Storage, StorageError
from controller.models import AuditRecord, Heartbeat, Worker
from controller.naming import storage_prefix
from controller.services.debug_export import RoomHistory
from controller.services.debug_markdown import excerpt, section, table

MAX_ROOT_FILES = 20
MAX_SESSIONS = 10
MAX_READ_BYTES = 10 * 1024 * 1024  # a file larger than this is listed, not read
MAX_HEARTBEATS = 60
MAX_AUDIT = 50
MAX_MESSAGES = 60


@dataclass
class ReportContext:
    """What every worker section shares: the window, storage, secrets to hide, the rooms read."""

    storage: Storage
    since: datetime
    until: datetime
    known: list[str] = field(default_factory=list)
    rooms: list[RoomHistory] = field(default_factory=list)
    matrix_note: str = ""  # why no messages could be read, "" when they were


def worker_report(context: ReportContext, name: str) -> str:
    """The ``## worker/<name>`` section of the report."""
    worker = Worker.objects.filter(name=name).select_related("team").first()
    if worker is None:
        return f"## worker/{name}\n\n_This worker no longer exists._\n"
    parts = [
        state_section(worker),
        files_section(context, name),
        sessions_section(context, name),
        heartbeats_section(context, worker),
        audit_section(context, name),
        messages_section(context, worker),
    ]
    return f"## worker/{name}\n\n" + "\n".join(parts)


def state_section(worker: Worker) -> str:
    heartbeat = worker.last_heartbeat.isoformat(timespec="seconds") if worker.last_heartbeat else "never"
    facts = [
        ("team", worker.team.name if worker.team else "—"),
        ("phase", worker.phase),
        ("desired state", worker.state),
        ("container state", worker.container_state or "—"),
        ("healthy", "yes" if worker.healthy else "no"),
        ("last heartbeat", heartbeat),
        ("message", worker.message or "—"),
    ]
    conditions = [
        (c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("lastTransitionTime"))
        for c in worker.conditions
        if isinstance(c, dict)
    ]
    parts = [table(["field", "value"], facts)]
    if conditions:
        parts.append(table(["condition", "status", "reason", "message", "since"], conditions))
    return section("State", parts)


def files_section(context: ReportContext, name: str) -> str:
    """Files at the workspace root: its state and instruction files, not its working tree."""
    prefix = storage_prefix("worker", name)
    try:
        files = list(context.storage.list(prefix, recursive=False))
    except StorageError as error:
        return section("Workspace state files", [f"_The workspace could not be listed: {error}_"])
    parts = [_file_excerpt(context, info, prefix) for info in files[:MAX_ROOT_FILES]]
    if len(files) > MAX_ROOT_FILES:
        parts.append(f"_… [truncated: {len(files) - MAX_ROOT_FILES} more file(s) not shown]_")
    return section("Workspace state files", parts, empty="_No files at the workspace root._")


def sessions_section(context: ReportContext, name: str) -> str:
    """The newest ``sessions/`` entries changed within the window; their ends, where the latest turns are."""
    prefix = storage_prefix("worker", name)
    try:
        entries = [
            info
            for info in context.storage.list(prefix + "sessions/")
            if context.since <= info.last_modified <= context.until
        ]
    except StorageError as error:
        return section("Recent sessions", [f"_The sessions could not be listed: {error}_"])
    entries.sort(key=lambda info: info.last_modified, reverse=True)
    parts = [_file_excerpt(context, info, prefix, tail=True) for info in entries[:MAX_SESSIONS]]
    if len(entries) > MAX_SESSIONS:
        parts.append(f"_… [truncated: {len(entries) - MAX_SESSIONS} older session file(s) not shown]_")
    return section("Recent sessions", parts)


def _file_excerpt(context: ReportContext, info: ObjectInfo, prefix: str, *, tail: bool = False) -> str:
    path = info.key[len(prefix) :]
    heading = f"**`{path}`** ({info.size} bytes, modified {info.last_modified.isoformat(timespec='seconds')})"
    if info.size > MAX_READ_BYTES:
        return f"{heading}: _too large to excerpt_"
    try:
        data = context.storage.get(info.key)
    except StorageError as error:
        return f"{heading}: _could not be read: {error}_"
    if b"\x00" in data[:4096]:
        return f"{heading}: _binary, not shown_"
    text = data.decode("utf-8", errors="replace")
    return f"{heading}\n\n{excerpt(text, context.known, tail=tail)}"


def heartbeats_section(context: ReportContext, worker: Worker) -> str:
    """Heartbeats in the window (newest first) and the moments its reported state changed."""
    beats = list(
        Heartbeat.objects.filter(worker=worker, received_at__gte=context.since, received_at__lte=context.until)[
            : MAX_HEARTBEATS + 1
        ]
    )
    shown = beats[:MAX_HEARTBEATS]
    rows = [
        (b.received_at.isoformat(timespec="seconds"), b.state, b.active_tasks, b.runtime_version, b.note) for b in shown
    ]
    parts = [table(["received", "state", "active tasks", "runtime", "note"], rows, context.known)] if rows else []
    if len(beats) > MAX_HEARTBEATS:
        parts.append(f"_… [truncated: only the newest {MAX_HEARTBEATS} heartbeats are shown]_")
    transitions = [
        f"- {newer.received_at.isoformat(timespec='seconds')}: {older.state} → {newer.state}"
        for newer, older in itertools.pairwise(shown)
        if newer.state != older.state
    ]
    transitions += [
        f"- {c['lastTransitionTime']}: condition {c.get('type')} became {c.get('status')} ({c.get('reason') or '—'})"
        for c in worker.conditions
        if isinstance(c, dict) and _within(context, c.get("lastTransitionTime"))
    ]
    if transitions:
        parts.append("Transitions:\n\n" + "\n".join(transitions))
    return section("Heartbeats and health", parts)


def _within(context: ReportContext, timestamp: object) -> bool:
    """Whether an ISO-8601 time (as conditions record it) falls within the report's window."""
    try:
        moment = datetime.fromisoformat(str(timestamp))
    except ValueError:
        return False
    return moment.tzinfo is not None and context.since <= moment <= context.until


def audit_section(context: ReportContext, name: str) -> str:
    records = AuditRecord.objects.filter(
        target_kind="Worker", target_name=name, at__gte=context.since, at__lte=context.until
    )[:MAX_AUDIT]
    rows = [
        (r.at.isoformat(timespec="seconds"), f"{r.identity} {r.actor}", r.action, json.dumps(r.detail)) for r in records
    ]
    return section("Audit events", [table(["at", "by", "action", "detail"], rows, context.known)] if rows else [])


def messages_section(context: ReportContext, worker: Worker) -> str:
    """Messages it sent or was named in, from the rooms the DebugWorker's credential has joined."""
    if context.matrix_note:
        return section("Matrix messages", [f"_{context.matrix_note}_"])
    user = worker.matrix_user_id
    if not user:
        return section("Matrix messages", ["_This worker has no Matrix account yet._"])
    rows = [
        (event["time"], history.name or history.room_id, event["sender"], event["body"])
        for history in context.rooms
        for event in history.events
        if "body" in event and (event["sender"] == user or user in event["body"])
    ]
    rows.sort(key=lambda row: row[0])
    parts = []
    if len(rows) > MAX_MESSAGES:
        parts.append(f"_… [truncated: only the newest {MAX_MESSAGES} of {len(rows)} messages are shown]_")
    if rows:
        parts.append(table(["time", "room", "sender", "message"], rows[-MAX_MESSAGES:], context.known))
    if any(history.truncated for history in context.rooms):
        parts.append("_Some rooms' history was cut by the size bound; older messages may be missing._")
    return section("Matrix messages", parts)
