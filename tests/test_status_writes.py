"""A pass writes its status once, at its end, and a pass that decides nothing new writes
nothing and tells no live page (controller/reconcilers/status_writes.py); on the embedded
services of tests/conftest.py (process backend, file storage)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controller.models import Worker
from controller.reconcilers import reconcile
from controller.services import live
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """The live notices sent (the channel layer's side is tests/test_live_notices.py)."""
    messages: list[dict] = []
    monkeypatch.setattr(live, "_send", lambda groups, message: messages.append(message))
    return messages


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the after-commit callbacks (notices are sent once the change commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def updates(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")]


def test_a_first_pass_writes_once_and_notifies_once(sent, committed):
    apply_text(to_yaml(manifest("Worker", "once", {"model": "q", "state": "Sleeping"})))
    sent.clear()
    with committed(), CaptureQueriesContext(connection) as queries:
        reconcile("Worker", "once")
    assert len(updates(queries)) == 1
    assert sent == [{"type": "worker.changed", "worker": "once", "team": ""}]
    worker = Worker.objects.get(name="once")
    assert (worker.phase, worker.observed_generation) == ("Sleeping", worker.generation)
    assert {c["type"]: c["status"] for c in worker.conditions}["StorageReady"] == "True"


def test_a_pass_that_decides_nothing_new_writes_nothing(sent, committed):
    apply_text(to_yaml(manifest("Worker", "same", {"model": "q", "state": "Sleeping"})))
    reconcile("Worker", "same")
    before = Worker.objects.get(name="same")
    sent.clear()
    with committed(), CaptureQueriesContext(connection) as queries:
        reconcile("Worker", "same")
    assert updates(queries) == [] and sent == []
    after = Worker.objects.get(name="same")
    assert (after.updated_at, after.reconciled_at, after.conditions) == (
        before.updated_at,
        before.reconciled_at,
        before.conditions,
    )


def test_a_new_generation_is_written_and_told(sent, committed):
    apply_text(to_yaml(manifest("Worker", "moved", {"model": "q", "state": "Sleeping"})))
    with committed():
        reconcile("Worker", "moved")
    apply_text(to_yaml(manifest("Worker", "moved", {"model": "q", "state": "Sleeping", "soul": "New."})))
    sent.clear()
    with committed(), CaptureQueriesContext(connection) as queries:
        reconcile("Worker", "moved")
    assert len(updates(queries)) == 1 and len(sent) == 1
    worker = Worker.objects.get(name="moved")
    assert worker.observed_generation == worker.generation == 2
