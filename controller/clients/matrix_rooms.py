"""Reading what a Matrix account sees: the rooms it has joined and their history, newest first.

Kept apart from ``matrix.py`` (accounts, rooms, sending) because only the debug
exports and reports read history this way: backwards from now, one page per
request, so a caller can stop as soon as events are older than it needs.
"""

from __future__ import annotations

from typing import Any

from controller.clients.matrix_http import MatrixError, MatrixHTTP, MatrixSession, segment

_CLIENT = "/_matrix/client/v3"


class RoomReading:
    """Mixed into ``MatrixClient``; uses its HTTP transport."""

    _http: MatrixHTTP

    def joined_rooms(self, session: MatrixSession) -> list[str]:
        """The IDs of every room ``session``'s user has joined."""
        return list(self._http.call("GET", f"{_CLIENT}/joined_rooms", session=session).get("joined_rooms", []))

    def messages_page(
        self, session: MatrixSession, room_id: str, *, start: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the room's events, newest first, and the token of the next (older) page.

        ``start`` is the token a previous page returned (None: from now). The next
        token is None when the start of the room was reached.
        """
        params: dict[str, Any] = {"dir": "b", "limit": limit}
        if start:
            params["from"] = start
        path = f"{_CLIENT}/rooms/{segment(room_id)}/messages"
        page = self._http.call("GET", path, session=session, params=params)
        end = page.get("end")
        chunk = page.get("chunk", [])
        return chunk, (end if end and end != start and chunk else None)

    def room_name(self, session: MatrixSession, room_id: str) -> str:
        """The room's ``m.room.name``, or "" when it has none."""
        path = f"{_CLIENT}/rooms/{segment(room_id)}/state/m.room.name"
        try:
            return str(self._http.call("GET", path, session=session).get("name", ""))
        except MatrixError as exc:
            if exc.status == 404:
                return ""
            raise
