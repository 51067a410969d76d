"""Request bodies sent with ``Transfer-Encoding: chunked`` are read whole, with the usual limits.

DRF reads a body only up to ``Content-Length``; a chunked request has none, so a
chunked ``PUT`` of a workspace file was stored as an empty file (201, size 0)
and a chunked heartbeat was refused as empty. These tests send real chunked
requests to the real ASGI application served by uvicorn.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Iterator
from urllib.parse import urlparse

import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient

from controller.api.workspace import MAX_FILE_BYTES
from controller.bodies import MAX_REQUEST_BYTES, LengthDelimitedBodies
from controller.connections import default_connections
from controller.models import AgentToken, Worker
from controller.services.apply import apply_text
from tests.ui.conftest import asgi_server  # noqa: F401 (the live server fixture)

WORKER = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: ada}\nspec: {model: q}\n"
KEPT = b"notes that must survive a bad upload"


@pytest.fixture
def token(transactional_db) -> str:
    apply_text(WORKER)
    default_connections().storage.put("agents/ada/notes.md", KEPT)
    return AgentToken.mint("worker", "ada")[1]


def send(url: str, method: str, path: str, token: str, chunks: Iterable[bytes], **headers: str):
    """One request whose body goes out chunked (http.client does so for an iterable body)."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            method,
            path,
            body=iter(chunks),
            headers={"Authorization": f"Bearer {token}", **headers},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def pieces(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.slow
def test_a_chunked_workspace_upload_stores_every_byte(asgi_server, token):  # noqa: F811
    body = b"line one\n" * 1000 + b"the end"
    status, answer = send(asgi_server, "PUT", "/api/v1/workspace/files/notes.md", token, pieces(body, 1000))
    assert status == 201, answer
    assert json.loads(answer) == {"path": "notes.md", "size": len(body)}
    assert default_connections().storage.get("agents/ada/notes.md") == body


@pytest.mark.slow
def test_a_chunked_upload_over_the_file_limit_is_refused_and_keeps_the_old_file(asgi_server, token):  # noqa: F811
    body = b"x" * (MAX_FILE_BYTES + 1)
    status, answer = send(asgi_server, "PUT", "/api/v1/workspace/files/notes.md", token, pieces(body))
    assert status == 400
    assert json.loads(answer)["field"] == "body"
    assert default_connections().storage.get("agents/ada/notes.md") == KEPT


@pytest.mark.slow
def test_a_chunked_heartbeat_is_recorded(asgi_server, token):  # noqa: F811
    report = json.dumps({"state": "busy", "activeTasks": 3}).encode()
    status, answer = send(
        asgi_server,
        "POST",
        "/api/v1/heartbeats",
        token,
        [report[:10], report[10:]],
        **{"Content-Type": "application/json"},
    )
    assert status == 202, answer
    assert Worker.objects.get(name="ada").active_tasks == 3


@pytest.mark.slow
def test_a_declared_length_over_the_request_limit_is_refused_before_the_body_is_read(asgi_server, token):  # noqa: F811
    parts = urlparse(asgi_server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("PUT", "/api/v1/workspace/files/notes.md")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Length", str(MAX_REQUEST_BYTES + 1))
        connection.endheaders()  # and no body: the answer must not wait for it
        response = connection.getresponse()
        assert response.status == 413
        assert "at most" in json.loads(response.read())["message"]
    finally:
        connection.close()
    assert default_connections().storage.get("agents/ada/notes.md") == KEPT


def test_a_chunked_body_over_the_request_limit_never_reaches_the_application():
    """At the ASGI layer: the body is cut off at the limit and answered 413."""
    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope)

    chunk = b"x" * (1024 * 1024)
    messages = iter([{"type": "http.request", "body": chunk, "more_body": True}] * 64)

    async def receive():
        return next(messages)

    async def collect(message):
        sent.append(message)

    scope = {"type": "http", "method": "PUT", "path": "/", "headers": [(b"transfer-encoding", b"chunked")]}
    async_to_sync(LengthDelimitedBodies(app))(scope, receive, collect)
    assert reached == []
    assert sent[0]["status"] == 413
    assert next(messages, None) is not None, "the rest of the body was read instead of refused"


def test_a_request_still_marked_chunked_inside_django_is_refused_not_stored_empty(transactional_db):
    """Served by something that does not make bodies length-delimited, the view answers 411."""
    apply_text(WORKER)
    default_connections().storage.put("agents/ada/notes.md", KEPT)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AgentToken.mint('worker', 'ada')[1]}")
    response = client.generic(
        "PUT", "/api/v1/workspace/files/notes.md", b"", content_type="text/plain", HTTP_TRANSFER_ENCODING="chunked"
    )
    assert response.status_code == 411
    assert "Content-Length" in response.json()["message"]
    assert default_connections().storage.get("agents/ada/notes.md") == KEPT
