"""Sending the controller's notices (controller/agent/notices.py) to an agent in its own room.

A notice @mentions the agent it addresses (``m.mentions`` and the user ID in
the body, after the marker the agent looks for) and is sent by the
controller's own account, the room's creator, the only sender agents act on.
Its transaction ID is derived from the notice, so a re-run of whatever sent
it (a re-delivered Celery task) returns the first event instead of sending
a second one.
"""

from __future__ import annotations

from controller.agent.notices import NOTICE_KEY, notice_content
from controller.connections import Connections


def send_notice(
    connections: Connections, room_id: str, user_id: str, kind: str, notice_id: str, *, version: str = ""
) -> str:
    """Send notice ``kind``/``notice_id`` addressed to ``user_id`` in ``room_id``; return the event ID."""
    matrix = connections.require_matrix()
    content = notice_content(kind, notice_id, targets=(user_id,), version=version)
    # The user ID goes after the marker (agents read a notice only from a body that starts
    # with it), so the mention adds no prefix; the pill and m.mentions come with the text.
    body = f"{content['body']} ({user_id})"
    return matrix.send_message(
        connections.matrix_admin(),
        room_id,
        body,
        mentions=(user_id,),
        txn_id=f"hiclaw-{kind}-{notice_id}-{user_id}",
        extra={NOTICE_KEY: content[NOTICE_KEY]},
    )
