"""A DebugWorker's Matrix export: the messages of every room its credential has joined.

The credential is the one its spec names (``spec.matrixCredential``; a team
leader's DebugWorker gets the leader's), with the access token kept encrypted
on the row, never in the spec. Each joined room is read backwards from now,
page by page, until events are older than the job's window, and written as
``debug/<name>/matrix-export/<room>.json``. A room stops at
``MAX_EVENTS_PER_ROOM`` events, the export at ``MAX_EXPORT_BYTES``; either
stop is written into the file, so a reader knows history was cut. Everything
written passes through ``redaction`` first.

The report (``debug_report``) reads the same rooms through ``session_for``
and ``read_rooms``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.clients.matrix import MatrixClient, MatrixSession
from controller.connections import Connections
from controller.models import DebugJob, DebugWorker
from controller.services.debug_targets import output_prefix
from controller.services.redaction import redact

EXPORT_FOLDER = "matrix-export/"
PAGE_SIZE = 100
MAX_ROOMS = 200
MAX_EVENTS_PER_ROOM = 5000
MAX_EXPORT_BYTES = 20 * 1024 * 1024  # every room file of one export together


class NoCredential(Exception):
    """The DebugWorker has no Matrix credential to read rooms with."""


@dataclass
class RoomHistory:
    """One room's events within the window, oldest first, already redacted."""

    room_id: str
    name: str
    events: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0
    truncated: str = ""  # why history stops early, "" when the whole window is here


def session_for(debugworker: DebugWorker) -> MatrixSession:
    """The Matrix session of its stored credential, or ``NoCredential`` saying what is missing."""
    credential = debugworker.typed_spec.matrix_credential
    user_id = credential.user_id if credential is not None else debugworker.matrix_user_id
    if not debugworker.matrix_access_token or not user_id:
        raise NoCredential(
            f"debugworker/{debugworker.name} has no Matrix credential (spec.matrixCredential with an "
            "accessToken), so no room can be read"
        )
    return MatrixSession(user_id, debugworker.matrix_access_token)


def working_session(matrix: MatrixClient, debugworker: DebugWorker) -> MatrixSession:
    """Its credential's session, checked with the homeserver: a revoked token is ``NoCredential`` too."""
    session = session_for(debugworker)
    if matrix.whoami(session) is None:
        raise NoCredential(
            f"the Matrix credential of debugworker/{debugworker.name} ({session.user_id}) is no longer valid; "
            "apply it again with a current accessToken"
        )
    return session


def window(hours: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """From ``hours`` ago until now, in UTC."""
    end = (now or datetime.now(UTC)).astimezone(UTC)
    return end - timedelta(hours=hours), end


def read_rooms(
    matrix: MatrixClient, session: MatrixSession, since: datetime, *, max_events: int, max_bytes: int
) -> Iterator[tuple[int, int, RoomHistory]]:
    """Each joined room's history since ``since`` as (index, count, history); ``max_bytes`` is
    shared by all rooms, so the later ones may come empty, marked truncated."""
    rooms = sorted(matrix.joined_rooms(session))
    left = max_bytes
    for index, room_id in enumerate(rooms[:MAX_ROOMS]):
        history = read_room(matrix, session, room_id, since, max_events=max_events, max_bytes=left)
        left -= history.size
        yield index, min(len(rooms), MAX_ROOMS), history


def read_room(
    matrix: MatrixClient, session: MatrixSession, room_id: str, since: datetime, *, max_events: int, max_bytes: int
) -> RoomHistory:
    """The room's events since ``since``, read newest first and returned oldest first."""
    history = RoomHistory(room_id, matrix.room_name(session, room_id))
    since_ms, known = int(since.timestamp() * 1000), [session.access_token]
    start: str | None = None
    while not history.truncated:
        chunk, start = matrix.messages_page(session, room_id, start=start, limit=PAGE_SIZE)
        for raw in chunk:
            if int(raw.get("origin_server_ts", 0)) < since_ms:
                start = None
                break
            event = simplify(raw, known)
            size = len(json.dumps(event, ensure_ascii=False).encode())
            if len(history.events) >= max_events or history.size + size > max_bytes:
                history.truncated = f"stopped after {len(history.events)} events ({history.size} bytes): size bound"
                break
            history.events.append(event)
            history.size += size
        if start is None:
            break
    history.events.reverse()
    return history


def simplify(raw: dict[str, Any], known: list[str]) -> dict[str, Any]:
    """What a reader needs of an event: who, when, what type, and its text or (redacted) content."""
    content = raw.get("content")
    if not isinstance(content, dict):
        content = {}
    event: dict[str, Any] = {
        "eventId": raw.get("event_id", ""),
        "sender": raw.get("sender", ""),
        "time": iso_ms(int(raw.get("origin_server_ts", 0))),
        "type": raw.get("type", ""),
    }
    if isinstance(content.get("body"), str):
        event["body"] = content["body"]
        if content.get("msgtype"):
            event["msgtype"] = content["msgtype"]
    else:
        event["content"] = content
    if "state_key" in raw:
        event["stateKey"] = raw["state_key"]
    return redact(event, known)


def iso_ms(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="seconds")


def room_key(debugworker: DebugWorker, room_id: str) -> str:
    """The storage key of a room's export: the room ID with anything but ``[A-Za-z0-9._-]`` made ``_``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", room_id).strip(".") or "room"
    return f"{output_prefix(debugworker)}{EXPORT_FOLDER}{safe[:200]}.json"


def export(job: DebugJob, connections: Connections, progress: Callable[[int], None]) -> list[str]:
    """Write one JSON file per joined room; return their keys."""
    debugworker = job.debugworker
    session_for(debugworker)  # no credential: fail before anything else is asked
    matrix = connections.require_matrix()
    session = working_session(matrix, debugworker)
    since, until = window(job.hours)
    keys = []
    histories = read_rooms(matrix, session, since, max_events=MAX_EVENTS_PER_ROOM, max_bytes=MAX_EXPORT_BYTES)
    for index, count, history in histories:
        document = {
            "roomId": history.room_id,
            "name": history.name,
            "window": {"from": since.isoformat(timespec="seconds"), "to": until.isoformat(timespec="seconds")},
            "hours": job.hours,
            "exportedBy": session.user_id,
            "truncated": history.truncated,
            "events": history.events,
        }
        key = room_key(debugworker, history.room_id)
        body = json.dumps(document, ensure_ascii=False, indent=1).encode()
        connections.storage.put(key, body, content_type="application/json")
        keys.append(key)
        progress(int(100 * (index + 1) / max(count, 1)) - 1)
    return keys
