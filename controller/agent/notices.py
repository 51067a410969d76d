"""What the controller and agents say to each other in Matrix rooms, in one place.

A *notice* is a message the controller's own account sends in a room: its
body starts with ``MARKER`` for people, and its content carries
``NOTICE_KEY`` for programs: ``{"kind", "id", "targets"?, "version"?}``.
Kinds: ``save-state`` (save your state now: a rollout follows) and
``skills-update`` (new skills are in your workspace). ``targets`` lists the
Matrix user IDs addressed; absent or empty means everyone in the room.

An agent answers a notice in the room (content key ``ACK_KEY``) and reports
it in its next heartbeats' ``note`` as ``ack:<kind>:<id>``, so whoever sent
the notice can wait for the acknowledgement through the API or the database.

Replies of reference workers carry ``REPLY_KEY``; agents never answer a
message that carries it, so two agents mentioning each other cannot loop.

Standard library only: the reference worker imports this without Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MARKER = "[hiclaw]"
NOTICE_KEY = "io.hiclaw.notice"
ACK_KEY = "io.hiclaw.ack"
REPLY_KEY = "io.hiclaw.reply"
SAVE_STATE = "save-state"
SKILLS_UPDATE = "skills-update"
KINDS = (SAVE_STATE, SKILLS_UPDATE)
_ACK_NOTE = re.compile(r"ack:([a-z-]+):([\w.-]+)")
_ID = re.compile(r"[\w.-]{1,64}")


@dataclass(frozen=True)
class Notice:
    kind: str
    id: str
    targets: tuple[str, ...] = ()
    version: str = ""

    def addresses(self, user_id: str) -> bool:
        return not self.targets or user_id in self.targets


def notice_content(kind: str, notice_id: str, *, targets: tuple[str, ...] = (), version: str = "") -> dict[str, Any]:
    """The ``m.room.message`` content of a notice (what the controller sends)."""
    if kind not in KINDS or not _ID.fullmatch(notice_id):
        raise ValueError(f"a notice needs a kind in {KINDS} and an id of letters, digits, '.', '_' or '-'")
    text = {
        SAVE_STATE: "save your state now: a rollout follows",
        SKILLS_UPDATE: f"skills updated to {version or 'a new version'}: reload them",
    }[kind]
    data: dict[str, Any] = {"kind": kind, "id": notice_id}
    if targets:
        data["targets"] = list(targets)
    if version:
        data["version"] = version
    return {"msgtype": "m.text", "body": f"{MARKER} {kind} {notice_id}: {text}", NOTICE_KEY: data}


def parse_notice(content: dict[str, Any]) -> Notice | None:
    """The notice a message carries, or None (not a notice, or malformed)."""
    data = content.get(NOTICE_KEY)
    body = content.get("body")
    if not isinstance(data, dict) or not isinstance(body, str) or not body.startswith(MARKER):
        return None
    kind, notice_id = data.get("kind"), data.get("id")
    if kind not in KINDS or not isinstance(notice_id, str) or not _ID.fullmatch(notice_id):
        return None
    targets = data.get("targets") or []
    version = data.get("version") or ""
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets) or not isinstance(version, str):
        return None
    return Notice(kind, notice_id, tuple(targets), version[:64])


def ack_note(notice: Notice) -> str:
    """How a heartbeat's ``note`` reports that the agent acted on ``notice``."""
    return f"ack:{notice.kind}:{notice.id}"


def acknowledged(note: str) -> set[tuple[str, str]]:
    """(kind, id) of every acknowledgement in a heartbeat's ``note``."""
    return {(kind, notice_id) for kind, notice_id in _ACK_NOTE.findall(note or "") if kind in KINDS}
