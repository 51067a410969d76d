"""Sending the controller's notices (controller/agent/notices.py) to an agent in its own room.

A notice @mentions the agent it addresses (``m.mentions`` and the user ID in
the body, after the marker the agent looks for) and is sent by the
controller's own account, the room's creator, the only sender agents act on.
Its transaction ID is derived from the notice, so a re-run of whatever sent
it (a re-delivered Celery task) returns the first event instead of sending
a second one.
"""

from __future__ import annotations

import html

from controller.agent.notices import notice_content
from controller.connections import Connections


def send_notice(
    connections: Connections, room_id: str, user_id: str, kind: str, notice_id: str, *, version: str = ""
) -> str:
    """Send notice ``kind``/``notice_id`` addressed to ``user_id`` in ``room_id``; return the event ID."""
    matrix = connections.require_matrix()
    content = notice_content(kind, notice_id, targets=(user_id,), version=version)
    content["body"] = f"{content['body']} ({user_id})"
    content.update(
        format="org.matrix.custom.html",
        formatted_body=html.escape(content["body"]).replace(
            html.escape(user_id), f'<a href="https://matrix.to/#/{html.escape(user_id)}">{html.escape(user_id)}</a>'
        ),
        **{"m.mentions": {"user_ids": [user_id]}},
    )
    txn_id = f"hiclaw-{kind}-{notice_id}-{user_id}"
    return matrix.send_content(connections.matrix_admin(), room_id, content, txn_id=txn_id)
