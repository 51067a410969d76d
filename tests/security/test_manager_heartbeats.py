"""The Manager's heartbeats: it reports about itself like any agent.

With docs/examples/manager.yaml applied, the Manager agent got 403 on every
``POST /heartbeats`` (the Django view and the Redis fast path took only
workers and leaders) while the dashboard showed it Running. Its reports are
now recorded on the Manager, kept as history, and shown with its health on
its dashboard page.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from controller.ingest import HeartbeatIngest
from controller.models import AgentToken, Heartbeat, Manager
from controller.services.apply import apply_text
from controller.services.heartbeats import apply_reports, decode, prune_history
from tests.conftest import example

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_token() -> str:
    apply_text(example("manager.yaml"))
    Manager.objects.filter(name="default").update(phase="Running", container_state="Running")
    return AgentToken.mint("manager", "default")[1]


def post(clear: str, body: dict):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client.post("/api/v1/heartbeats", body, format="json")


def test_the_manager_reports_its_own_heartbeats(manager_token):
    response = post(manager_token, {"state": "busy", "activeTasks": 2, "runtimeVersion": "2.1.0", "note": "triage"})
    assert response.status_code == 202, response.json()
    assert response.json()["accepted"] is True
    manager = Manager.objects.get(name="default")
    assert manager.last_heartbeat is not None and manager.version == "2.1.0"
    history = Heartbeat.objects.get(manager=manager)
    assert (history.state, history.active_tasks, history.note, history.worker) == ("busy", 2, "triage", None)


def test_a_manager_token_without_its_manager_is_still_refused(manager_token):
    assert post(AgentToken.mint("manager", "ops")[1], {"state": "idle"}).status_code == 403
    assert post(AgentToken.mint("admin", "root")[1], {"state": "idle"}).status_code == 403
    assert not Heartbeat.objects.exists()


def fast_path(clear: str, buffered: list) -> tuple[int, dict]:
    """One heartbeat through the Redis fast path, its buffer a list."""

    async def buffer(item) -> None:
        buffered.append(item)

    app = HeartbeatIngest(None, "redis://unused", cache_seconds=0)
    app.buffer = buffer  # the Redis list itself is tests/test_heartbeat_ingest.py's concern
    headers = [(b"authorization", f"Bearer {clear}".encode())]
    scope = {"type": "http", "method": "POST", "path": "/api/v1/heartbeats", "headers": headers}
    messages = [{"type": "http.request", "body": json.dumps({"state": "idle"}).encode()}]

    async def receive():
        return messages.pop(0)

    return async_to_sync(app.accept)(scope, receive)


def test_the_fast_path_buffers_the_managers_reports_too(manager_token):
    buffered: list = []
    status, body = fast_path(manager_token, buffered)
    assert (status, body["accepted"]) == (202, True)
    assert apply_reports([decode(item) for item in buffered]) == 1
    assert Manager.objects.get(name="default").last_heartbeat is not None
    assert Heartbeat.objects.filter(manager__name="default").count() == 1


def test_the_fast_path_refuses_a_manager_token_without_its_manager(manager_token):
    """As the Django view does: a token naming no Manager (or one being deleted) reports about nobody."""
    buffered: list = []
    assert fast_path(AgentToken.mint("manager", "ops")[1], buffered)[0] == 403
    Manager.objects.filter(name="default").update(deletion_requested_at=timezone.now())
    assert fast_path(manager_token, buffered)[0] in (401, 403)
    assert buffered == []


def test_history_is_pruned_per_agent(manager_token, settings):
    from controller.models import Worker

    settings.HICLAW_HEARTBEAT_HISTORY_MAX = 2
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w}\nspec: {model: q}\n")
    manager, worker = Manager.objects.get(name="default"), Worker.objects.get(name="w")
    now = timezone.now()
    for minutes in (3, 2, 1):
        manager.record_heartbeat("idle", now=now - timedelta(minutes=minutes))
        worker.record_heartbeat("idle", now=now - timedelta(minutes=minutes))
    assert prune_history(now) == 2
    assert Heartbeat.objects.filter(manager=manager).count() == 2
    assert Heartbeat.objects.filter(worker=worker).count() == 2


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("op", password="pw-operator-1"))
    return client


def test_the_dashboard_shows_the_managers_heartbeats_and_health(manager_token, operator):
    before = operator.get("/managers/").content.decode()
    assert 'aria-label="health: warn"' in before  # Running, but no report yet
    post(manager_token, {"state": "busy", "activeTasks": 3, "runtimeVersion": "2.1.0", "note": "triage"})

    listing = operator.get("/managers/").content.decode()
    assert 'aria-label="health: ok"' in listing and "/managers/default/" in listing
    page = operator.get("/managers/default/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "triage" in html and "2.1.0" in html and 'aria-label="health: ok"' in html

    # Twice its heartbeatInterval (15m) without a report: unhealthy.
    Manager.objects.filter(name="default").update(last_heartbeat=timezone.now() - timedelta(minutes=31))
    assert 'aria-label="health: bad"' in operator.get("/managers/default/").content.decode()


def test_the_managers_page_is_not_shown_to_others(manager_token):
    user = get_user_model().objects.create_user("carol", password="pw-carol-123")
    client = Client()
    client.force_login(user)
    assert client.get("/managers/default/").status_code == 404
    assert client.get("/managers/ghost/").status_code == 404
