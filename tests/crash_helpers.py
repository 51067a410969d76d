"""What the crash and restart tests share: the instance watcher in a thread, as ``hiclaw_run`` runs
it, reconciles run by a worker thread (tests/reconcile_worker.py), and the worker as the API shows it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from django.db import OperationalError
from rest_framework.test import APIClient

from controller.backends.base import WorkerBackend
from controller.models import AgentToken, Event
from controller.services import events, watchers
from tests import reconcile_worker
from tests.helpers import wait_until

# Latencies measured by the tests (kill -> the API no longer says Running), by backend.
LATENCIES: dict[str, list[float]] = {}
T = TypeVar("T")


@contextmanager
def watching(backend: WorkerBackend, monkeypatch) -> Iterator[threading.Event]:
    """The backend's watch queues reconciles (``instance_changed``) that a worker thread runs."""
    worker = reconcile_worker.start(monkeypatch)
    stop = threading.Event()
    thread = threading.Thread(
        target=watchers.run_until_stopped,
        args=("instances", lambda stop: backend.watch(watchers.instance_changed, stop), stop),
        daemon=True,
    )
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)
        worker.stop.set()
        worker.thread.join(10)
    assert not thread.is_alive(), "the watch did not end once stopped"


def retrying(action: Callable[[], T], timeout: float = 10) -> T:
    """``action()``, again while the tests' SQLite says a table is locked: the reconcile thread
    writes to the one in-memory database the test reads (PostgreSQL has no such lock)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def admin_api() -> APIClient:
    client = APIClient()
    _, token = AgentToken.mint("admin", "root")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def api_worker(client: APIClient, name: str) -> dict:
    response = retrying(lambda: client.get(f"/api/v1/workers/{name}"))
    for _ in range(100):
        if response.status_code != 503:  # 503: the store is busy (SQLite's lock, as above); ask again
            break
        time.sleep(0.05)
        response = client.get(f"/api/v1/workers/{name}")
    assert response.status_code == 200, response.content
    return response.json()


def wait_api(client: APIClient, name: str, condition: Callable[[dict], bool], timeout: float, what: str) -> dict:
    def met() -> dict | None:
        answer = api_worker(client, name)
        return answer if condition(answer) else None

    return wait_until(
        met,
        timeout,
        what,
        details=lambda: str(api_worker(client, name)),
    )


def kill_and_time(client: APIClient, name: str, kill: Callable[[], None], backend: str) -> float:
    """Kill the instance and return the seconds until the API no longer shows the worker Running."""
    wait_api(client, name, lambda w: w["phase"] == "Running", 60, "the worker Running")
    started = time.monotonic()
    kill()
    wait_api(client, name, lambda w: w["phase"] != "Running", 15, "the worker not Running after the kill")
    latency = time.monotonic() - started
    LATENCIES.setdefault(backend, []).append(latency)
    print(f"\n{backend}: kill -> API not Running in {latency:.3f} s")
    return latency


def crashes(name: str) -> list[Event]:
    """The worker's crash and restart events (its phase changes are events too, not counted here)."""
    rows = Event.objects.filter(kind="Worker", name=name).exclude(reason__in=events.PHASE_REASONS)
    return retrying(lambda: list(rows.order_by("at", "id")))


def reasons(name: str) -> list[str]:
    return [event.reason for event in crashes(name)]


def seconds_between(earlier: datetime | str, later: datetime) -> float:
    start = datetime.fromisoformat(earlier) if isinstance(earlier, str) else earlier
    return (later - start).total_seconds()
