"""Request bodies reach Django length-delimited and bounded: an ASGI layer in front of it.

Django and DRF read a body only as far as ``Content-Length`` says. A request sent
with ``Transfer-Encoding: chunked`` has no such header, so its body read as empty:
a workspace file was replaced by nothing and a heartbeat was refused. This layer
reads a chunked body itself (at most ``MAX_REQUEST_BYTES``), then hands it on
with the ``Content-Length`` it turned out to have. A declared length over the
limit is answered 413 before any of the body is read. Each endpoint's own
limit (workspace files 10 MiB, heartbeats 64 KiB) still applies after this one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

# Above every endpoint's own limit, so those keep answering with their own messages.
MAX_REQUEST_BYTES = 16 * 1024 * 1024

Scope = dict[str, Any]
Message = Mapping[str, Any]  # what ASGI servers and Django accept as a message
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class LengthDelimitedBodies:
    """Wraps an ASGI app; HTTP requests reach it with a ``Content-Length`` of at most the limit."""

    def __init__(self, app: ASGIApp, limit: int = MAX_REQUEST_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        names = {name.lower() for name, _ in headers}
        if b"content-length" in names:
            if _declared_length(headers) > self.limit:
                await _too_large(send, self.limit)
                return
            await self.app(scope, receive, send)
        elif b"transfer-encoding" in names:
            await self._buffered(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _buffered(self, scope: Scope, receive, send) -> None:
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await _too_large(send, self.limit)
                return
        headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"transfer-encoding"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app({**scope, "headers": headers}, _replay(bytes(body), receive), send)


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    # The server (h11) has already refused a malformed or repeated Content-Length.
    value = next(value for name, value in headers if name.lower() == b"content-length")
    return int(value)


def _replay(body: bytes, receive):
    """A receive callable giving the buffered body once, then whatever the client sends next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _too_large(send, limit: int) -> None:
    message = f"request bodies are at most {limit} bytes"
    payload = json.dumps({"message": message, "error": message, "field": "body"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),  # the unread rest of the body must not be taken for a next request
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
