"""The reference worker's Matrix side: follow its rooms with ``/sync`` and answer messages.

It uses exactly the credentials the controller wrote into the agent's config
(homeserver, user ID, access token): it never logs in with a password. It
joins every room it is invited to, long-polls ``/sync`` with bounded timeouts
and reconnects with exponential backoff. A rejected token or a deactivated
account ends the loop for good: logged once, and kept in ``problem`` for the
heartbeats. The access token travels only in the Authorization header and is
never printed: errors name the endpoint, never the request.

Standard library only (it runs wherever Python does, without the controller's
dependencies).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CLIENT = "/_matrix/client/v3"
HTTP_TIMEOUT = 10
SYNC_TIMEOUT_MS = 30_000
MAX_BACKOFF = 60.0
# Enough of each room for the replies: no presence, receipts, typing or account data.
SYNC_FILTER = json.dumps(
    {
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {"timeline": {"limit": 50}, "ephemeral": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]}},
    },
    separators=(",", ":"),
)
# Answers meaning the credentials are gone for good (revoked token, deactivated account).
FATAL_CODES = {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_USER_DEACTIVATED"}

# (room ID, event, whether its sender created the room, i.e. is the controller) -> reply content or None
Handler = Callable[[str, dict[str, Any], bool], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Credentials:
    homeserver: str
    user_id: str
    access_token: str = field(repr=False)
    room_id: str = ""

    @classmethod
    def from_config(cls, config: dict[str, Any], env: dict[str, str]) -> Credentials | None:
        """The agent config's ``matrix`` block, completed by the environment; None without a homeserver."""
        matrix = config.get("matrix")
        block: dict[str, Any] = matrix if isinstance(matrix, dict) else {}
        homeserver = block.get("homeserver") or env.get("HICLAW_MATRIX_URL", "")
        user_id = block.get("userId") or env.get("HICLAW_MATRIX_USER_ID", "")
        token = block.get("accessToken") or env.get("HICLAW_MATRIX_ACCESS_TOKEN", "")
        if not (homeserver and user_id and token):
            return None
        room_id = block.get("roomId") or env.get("HICLAW_MATRIX_ROOM_ID", "")
        return cls(homeserver.rstrip("/"), user_id, token, room_id)


class MatrixRequestError(Exception):
    def __init__(self, status: int | None, errcode: str, message: str, retry_after: float | None = None):
        self.status, self.errcode, self.retry_after = status, errcode, retry_after
        super().__init__(f"{errcode or 'error'} ({status or 'no answer'}): {message}")

    @property
    def fatal(self) -> bool:
        return self.status == 401 or self.errcode in FATAL_CODES


class MatrixHTTP:
    """Client-Server API calls with the agent's access token."""

    def __init__(self, credentials: Credentials):
        self.credentials = credentials

    def call(self, method: str, path: str, body: dict | None = None, *, params=None, timeout=HTTP_TIMEOUT) -> dict:
        url = self.credentials.homeserver + CLIENT + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        # The homeserver URL is the one the controller configured.
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.credentials.access_token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise _refusal(error) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise MatrixRequestError(None, "", f"{method} {path.split('?')[0]}: {type(error).__name__}") from None

    def send(self, room_id: str, content: dict[str, Any], txn_id: str) -> str:
        path = f"/rooms/{_segment(room_id)}/send/m.room.message/{_segment(txn_id)}"
        return self.call("PUT", path, content)["event_id"]


def _refusal(error: urllib.error.HTTPError) -> MatrixRequestError:
    try:
        data = json.loads(error.read() or b"{}")
    except ValueError:
        data = {}
    retry = data.get("retry_after_ms")
    return MatrixRequestError(
        error.code,
        str(data.get("errcode", "")),
        str(data.get("error", error.reason))[:200],
        retry / 1000 if isinstance(retry, int | float) else None,
    )


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class MatrixLoop(threading.Thread):
    """Follows the agent's rooms until stopped, or until its credentials stop working."""

    def __init__(self, credentials: Credentials, handler: Handler, *, since_ms: int, sync_timeout_ms=SYNC_TIMEOUT_MS):
        super().__init__(name="matrix", daemon=True)
        self.credentials = credentials
        self.http = MatrixHTTP(credentials)
        self.handler = handler
        self.since_ms = since_ms  # messages older than this were sent before the agent started: history
        self.sync_timeout_ms = sync_timeout_ms
        self.stopped = threading.Event()
        self.rooms: set[str] = set()
        self.creators: dict[str, str] = {}
        self.status = "matrix: connecting"
        self.ended = False  # the credentials no longer work: only new ones start a loop again

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        delay, since = 1.0, None
        while not self.stopped.is_set():
            try:
                if since is None:
                    self._check_identity()
                since = self.sync_once(since)
                delay = 1.0
                continue
            except MatrixRequestError as error:
                if error.fatal:
                    self._end(f"access token rejected, {error}")
                    return
                self.status = f"matrix: reconnecting after {error}"
                wait = max(delay, error.retry_after or 0)
            except Exception as error:  # an answer of an unexpected shape: retried, never a dead thread
                print(f"matrix: sync failed: {error!r}", file=sys.stderr, flush=True)
                self.status = f"matrix: reconnecting after {type(error).__name__}"
                wait = delay
            self.stopped.wait(min(MAX_BACKOFF, wait) * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            delay = min(MAX_BACKOFF, delay * 2)

    def _check_identity(self) -> None:
        owner = self.http.call("GET", "/account/whoami").get("user_id")
        if owner != self.credentials.user_id:
            raise MatrixRequestError(401, "M_UNKNOWN_TOKEN", f"the token belongs to {owner}, not the configured user")

    def _end(self, why: str) -> None:
        self.ended = True
        self.status = f"matrix: stopped: {why}"
        print(f"matrix loop of {self.credentials.user_id} ended: {why}", file=sys.stderr, flush=True)

    def sync_once(self, since: str | None) -> str:
        params = {"timeout": self.sync_timeout_ms if since else 0, "filter": SYNC_FILTER}
        if since:
            params["since"] = since
        timeout = HTTP_TIMEOUT + self.sync_timeout_ms / 1000
        answer = self.http.call("GET", "/sync", params=params, timeout=timeout)
        if self.stopped.is_set():
            return answer.get("next_batch", since or "")
        rooms = answer.get("rooms", {})
        for room_id in rooms.get("invite", {}):
            self.join_room(room_id)
        self.rooms -= set(rooms.get("leave", {}))
        for room_id, room in rooms.get("join", {}).items():
            self.rooms.add(room_id)
            self._follow(room_id, room)
        if since is None and self.credentials.room_id and self.credentials.room_id not in self.rooms:
            self.join_room(self.credentials.room_id)
        self.status = f"matrix: following {len(self.rooms)} rooms"
        return answer["next_batch"]

    def join_room(self, room_id: str) -> None:
        try:
            self.http.call("POST", f"/join/{_segment(room_id)}", {})
            self.rooms.add(room_id)
        except MatrixRequestError as error:
            if error.fatal:
                raise
            print(f"matrix: could not join {room_id}: {error}", file=sys.stderr, flush=True)

    def _follow(self, room_id: str, room: dict[str, Any]) -> None:
        events = room.get("state", {}).get("events", []) + room.get("timeline", {}).get("events", [])
        for event in events:
            if event.get("type") == "m.room.create":
                self.creators[room_id] = event.get("sender", "")
        for event in room.get("timeline", {}).get("events", []):
            if self._is_new_message(event):
                self._answer(room_id, event)

    def _is_new_message(self, event: dict[str, Any]) -> bool:
        return (
            event.get("type") == "m.room.message"
            and event.get("sender") != self.credentials.user_id
            and event.get("origin_server_ts", 0) >= self.since_ms
            and isinstance(event.get("content"), dict)
        )

    def _answer(self, room_id: str, event: dict[str, Any]) -> None:
        # One message failing must not stop the others, nor make the next sync repeat them.
        try:
            from_controller = event.get("sender") == self.creator(room_id)
            reply = self.handler(room_id, event, from_controller)
        except MatrixRequestError as error:
            if error.fatal:
                raise
            print(f"matrix: message in {room_id} not answered: {error}", file=sys.stderr, flush=True)
            return
        except Exception as error:  # a bug in one command must not end the loop
            print(f"matrix: message in {room_id} not answered: {error!r}", file=sys.stderr, flush=True)
            return
        if reply is not None:
            self.send(room_id, reply)

    def creator(self, room_id: str) -> str:
        """Who created the room: the controller's own account, the only sender whose notices count."""
        if room_id not in self.creators:
            state = self.http.call("GET", f"/rooms/{_segment(room_id)}/state")
            created = [e.get("sender", "") for e in state if isinstance(e, dict) and e.get("type") == "m.room.create"]
            self.creators[room_id] = created[0] if created else ""
        return self.creators[room_id]

    def send(self, room_id: str, content: dict[str, Any]) -> bool:
        """Send a message (from any thread); a failure is logged, except a dead token, which the
        loop itself reports once on its next sync."""
        try:
            self.http.send(room_id, content, uuid.uuid4().hex)
        except MatrixRequestError as error:
            if not error.fatal:
                print(f"matrix: message in {room_id} not sent: {error}", file=sys.stderr, flush=True)
            return False
        return True
