"""Helpers every test module may use: waiting for a condition, a free port, manifests from dicts.

Tests wait for real processes, threads and servers; they poll a condition
until a deadline instead of sleeping a fixed time, so they are as fast as the
machine allows and fail with a message naming what never happened. Manifests
are built as dicts and dumped with PyYAML, so a test states the fields it
means instead of escaping braces in YAML flow text.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
import redis as redis_lib
import yaml

T = TypeVar("T")
API_VERSION = "hiclaw.io/v1beta1"


def wait_until(
    condition: Callable[[], T],
    timeout: float = 10,
    what: str = "the condition",
    *,
    interval: float = 0.05,
    check: Callable[[], object] | None = None,
    details: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail after ``timeout`` s.

    ``check`` runs before each poll and may fail the test early (e.g. when the
    process waited for has exited); ``details`` adds text (e.g. a log tail) to
    the failure message.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details is not None else ""
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(interval)  # polling something that runs on its own schedule, bounded by the deadline


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manifest(
    kind: str,
    name: str,
    spec: dict[str, Any] | None = None,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One ``hiclaw.io/v1beta1`` resource as a dict."""
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec or {}}


class _PlainDumper(yaml.SafeDumper):
    """Writes a value shared between documents out each time: manifests refuse YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(*documents: dict[str, Any]) -> str:
    """Manifests as one YAML stream, as a user would write them."""
    return yaml.dump_all(documents, Dumper=_PlainDumper, sort_keys=False)


def asgi_post(app, path: str, body: bytes, token: str = "", method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    """One request straight to an ASGI app (no server): its status, headers and body."""
    from asgiref.sync import async_to_sync

    headers = [(b"content-type", b"application/json")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    async_to_sync(app)(scope, receive, send)
    answer_headers = {key.decode(): value.decode() for key, value in sent[0].get("headers", [])}
    return sent[0]["status"], answer_headers, sent[1]["body"]


@contextmanager
def empty_redis(url: str) -> Iterator[redis_lib.Redis]:
    """A client on a Redis database a test module has to itself, emptied before and after."""
    client = redis_lib.Redis.from_url(url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()


@contextmanager
def lock_held_elsewhere(key: str) -> Iterator[None]:
    """Hold the reconcile lock ``key`` from another thread (another worker, as far as the
    lock can tell) for the duration of the block."""
    import threading

    from django.db import connection

    from controller.reconcilers.locks import resource_lock

    held_elsewhere, release = threading.Event(), threading.Event()

    def hold() -> None:
        with resource_lock(key) as held:
            assert held
            held_elsewhere.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held_elsewhere.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


@contextmanager
def scratch_database(server: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on ``server`` (postgres://user:pw@host:port), dropped afterwards."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
