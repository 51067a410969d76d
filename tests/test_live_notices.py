"""Live notices are sent after commit, one batch per transaction, repeats collapsed."""

from __future__ import annotations

import pytest
from django.db import transaction

from controller.manifests import parse_objects
from controller.models import Worker
from controller.services import live
from controller.services.apply import apply_documents
from tests.helpers import manifest

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list[tuple[list[str], dict]]:
    """What ``live`` hands to the channel layer (the layer itself is exercised by tests/ui)."""
    messages: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(live, "_send", lambda groups, message: messages.append((groups, message)))
    return messages


def test_saves_in_one_transaction_queue_one_batch_of_distinct_notices(sent, django_capture_on_commit_callbacks):
    apply_documents(parse_objects([manifest("Worker", "solo", {"model": "qwen"})]))
    worker = Worker.objects.get(name="solo")
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for message in ("one", "two", "three"):
            worker.message = message
            worker.save()
    assert [callback for callback in callbacks if isinstance(callback, live.NoticeBatch)] == callbacks
    assert len(callbacks) == 1
    assert sent == [(["overview", "worker-solo"], {"type": "worker.changed", "worker": "solo", "team": ""})]


def test_a_rolled_back_savepoint_drops_its_notices_only(sent, django_capture_on_commit_callbacks):
    apply_documents(parse_objects([manifest("Worker", "solo", {"model": "qwen"})]))
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        live.team_changed("kept")
        try:
            with transaction.atomic():
                live.team_changed("dropped")
                raise RuntimeError("roll back the savepoint")
        except RuntimeError:
            pass
        live.worker_changed("solo")
    assert [message.get("team") or message.get("worker") for _, message in sent] == ["kept", "solo"]
