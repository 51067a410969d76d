"""The heartbeat fast path: ``POST /api/v1/heartbeats`` answered without Django's request cycle.

Heartbeats are the one high-volume request (every agent, every few seconds).
With Redis configured, this small ASGI app in front of Django checks the
token like the API does, against the holder's current role (a verified token
is trusted for ``HICLAW_TOKEN_CACHE_SECONDS``: a revocation or role change
reaches this path within that window), checks
the report with the same rules as the API view, counts it against its
agent's rate in this process's memory (controller/services/heartbeat_rate.py)
and appends it to a Redis list; ``flush_heartbeats`` applies the list in
batches. A report over the rate is answered 429 with ``Retry-After`` and never
reaches Redis. Every other request goes to Django unchanged. Answers and
errors have the API's shapes.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings

from controller import metrics
from controller.manifests.bounds import TOO_DEEP
from controller.models import Identity
from controller.models.token import token_digest
from controller.policy import principal_for_token
from controller.services import heartbeat_rate
from controller.services.heartbeats import (
    MANAGER,
    WORKER,
    InvalidHeartbeat,
    buffer_key,
    encode,
    parse_report,
    reporter_exists,
)

PATH = "/api/v1/heartbeats"
RETRY_AFTER = "retry_after"  # how a 429's seconds reach _respond, which moves them to the header
MAX_BODY = 64 * 1024
# Who reports, and as which kind of agent (a manager token names the Manager it reports about).
REPORTERS: dict[str, str] = {Identity.WORKER: WORKER, Identity.TEAM_LEADER: WORKER, Identity.MANAGER: MANAGER}


def _verify(clear: str) -> tuple[str, str, bool] | None:
    """(identity, subject, whether the agent it would report about is there) of a valid token."""
    principal = principal_for_token(clear)
    if principal is None:
        return None
    kind = REPORTERS.get(principal.identity)
    return principal.identity, principal.name, kind is not None and reporter_exists(kind, principal.name)


class TokenCache:
    """Verified tokens by digest, each trusted until its entry is older than ``ttl`` seconds."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[str, tuple[float, tuple[str, str, bool] | None]] = {}

    async def subject(self, clear: str) -> tuple[str, str, bool] | None:
        """(identity, subject, whether its agent exists) of a valid token, else None."""
        digest = token_digest(clear)
        now = time.monotonic()
        cached = self._entries.get(digest)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        value = await sync_to_async(_verify)(clear)
        if len(self._entries) > 100_000:
            self._entries.clear()  # bounded: a flood of bad tokens cannot grow it forever
        self._entries[digest] = (now, value)
        return value


class HeartbeatIngest:
    def __init__(self, app, redis_url: str, cache_seconds: float | None = None):
        self.app = app
        self.redis_url = redis_url
        self._redis: tuple[asyncio.AbstractEventLoop, aioredis.Redis] | None = None
        self.tokens = TokenCache(settings.HICLAW_TOKEN_CACHE_SECONDS if cache_seconds is None else cache_seconds)

    def redis(self) -> aioredis.Redis:
        """The client of the running event loop (a client cannot move between loops)."""
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis[0] is not loop:
            self._redis = (loop, aioredis.Redis.from_url(self.redis_url, socket_timeout=5))
        return self._redis[1]

    async def buffer(self, encoded: str) -> None:
        """Append an admitted report to the buffer ``flush_heartbeats`` applies."""
        await self.redis().rpush(buffer_key(), encoded)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            status, body = await self.accept(scope, receive)
            await _respond(send, status, body)
            return
        await self.app(scope, receive, send)

    async def accept(self, scope, receive) -> tuple[int, dict[str, Any]]:
        headers = dict(scope["headers"])
        keyword, _, clear = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if keyword != "Bearer" or not clear.strip():
            return 401, _error("Authorization header must be 'Bearer <token>'")
        who = await self.tokens.subject(clear.strip())
        if who is None:
            return 401, _error("invalid, expired or revoked token")
        identity, name, exists = who
        if identity not in REPORTERS:
            return 403, _error("heartbeats come from a worker, team leader or the Manager, about itself")
        if not exists:
            # A manager token an operator minted for a name no Manager has (the view says the same).
            return 403, _error(f"no {REPORTERS[identity]} named {name!r} for this token")
        raw = await _read_body(receive)
        if raw is None:
            return 413, _error(f"a heartbeat is at most {MAX_BODY} bytes", "body")
        try:
            report = parse_report(name, json.loads(raw or b"null"), kind=REPORTERS[identity])
        except RecursionError:
            return 400, _error(f"body: JSON {TOO_DEEP}", "body")
        except InvalidHeartbeat as error:
            return error.status, _error(error.describe(), error.field)
        except ValueError:
            return 400, _error("body: must be JSON", "body")
        wait = heartbeat_rate.admit_here(report.kind, name)
        if wait:
            return 429, {**_error(heartbeat_rate.refusal(wait)), RETRY_AFTER: wait}
        await self.buffer(encode(report))
        metrics.heartbeat_received(report.kind)
        return 202, {"worker": name, "accepted": True}


async def _read_body(receive) -> bytes | None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            return None
        if not message.get("more_body"):
            return body


def _error(message: str, field: str = "") -> dict[str, str]:
    body = {"message": message, "error": message}
    if field:
        body["field"] = field
    return body


async def _respond(send, status: int, body: dict) -> None:
    wait = body.pop(RETRY_AFTER, None)
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if wait is not None:
        headers.append((b"retry-after", str(wait).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
