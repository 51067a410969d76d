"""The loop that keeps every watcher running (controller/services/watchers.py)."""

from __future__ import annotations

import threading

import pytest
from django import db

from controller.models import Worker
from controller.services import watchers


@pytest.mark.django_db(transaction=True)
def test_a_failing_watcher_is_started_again_and_its_thread_gives_its_connection_back(monkeypatch):
    monkeypatch.setattr(watchers, "RESTART_BACKOFF_SECONDS", (0.01,))
    stop = threading.Event()
    runs: list[object] = []

    def watcher(stop: threading.Event) -> None:
        Worker.objects.exists()  # the thread now holds a database connection
        runs.append(db.connections["default"])  # this thread's own
        if len(runs) < 3:
            raise OSError("the stream broke")
        stop.set()

    thread = threading.Thread(target=watchers.run_until_stopped, args=("test", watcher, stop))
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and len(runs) == 3
    if runs[0].vendor == "sqlite" and runs[0].is_in_memory_db():
        pytest.skip("the tests' in-memory SQLite connection is shared by every thread and never closed")
    # Closed after each failure and when the thread ended: none is left checked out.
    assert runs[0].connection is None


def test_a_watcher_that_returns_unstopped_is_not_run_again():
    calls = []
    watchers.run_until_stopped("once", lambda stop: calls.append(1), threading.Event())
    assert calls == [1]
