"""The heartbeat fast path (production mode): ASGI in front of Django, Redis buffer, batch apply.

Runs against the machine's real Redis (a database of its own, emptied
around each test) and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from controller.ingest import HeartbeatIngest
from controller.models import AgentToken, Heartbeat, Manager, Worker
from controller.services.apply import apply_text
from controller.services.heartbeats import buffer_key, flush_buffer, prune_history
from tests.helpers import asgi_post, empty_redis

pytestmark = pytest.mark.django_db
REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def redis():
    with empty_redis(REDIS_URL) as client:
        yield client


@pytest.fixture
def ingest(redis):
    passed = []

    async def django_stand_in(scope, receive, send):
        # Everything but heartbeats goes on to Django; here it is recorded instead.
        passed.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = HeartbeatIngest(django_stand_in, REDIS_URL, cache_seconds=30)
    app.passed = passed
    return app


def call(app, path: str, body: bytes, token: str = "", method: str = "POST") -> tuple[int, dict]:
    status, _, payload = asgi_post(app, path, body, token, method)
    return status, (json.loads(payload) if payload else {})


@pytest.fixture
def worker():
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: fast}\nspec: {model: q}\n")
    return AgentToken.mint("worker", "fast")[1]


def test_accepted_reports_are_buffered_then_applied_in_a_batch(ingest, redis, worker):
    for state, tasks in (("busy", 2), ("idle", 0)):
        body = json.dumps({"state": state, "activeTasks": tasks, "runtimeVersion": "1.4"}).encode()
        assert call(ingest, "/api/v1/heartbeats", body, worker) == (202, {"worker": "fast", "accepted": True})
    assert redis.llen(buffer_key()) == 2
    assert Worker.objects.get(name="fast").last_heartbeat is None  # not applied yet

    assert flush_buffer(redis) == 2
    fast = Worker.objects.get(name="fast")
    assert (fast.active_tasks, fast.runtime_version) == (0, "1.4")
    assert fast.idle_since == fast.last_heartbeat  # the idle report came last
    assert list(Heartbeat.objects.filter(worker=fast).values_list("state", flat=True)) == ["idle", "busy"]
    assert redis.llen(buffer_key()) == 0


def test_refusals_have_the_api_shape(ingest, worker):
    status, body = call(ingest, "/api/v1/heartbeats", b'{"state": "idle"}')
    assert status == 401 and body["message"] == body["error"]
    assert call(ingest, "/api/v1/heartbeats", b'{"state": "idle"}', "hct_wrong")[0] == 401
    admin = AgentToken.mint("admin", "root")[1]
    assert call(ingest, "/api/v1/heartbeats", b'{"state": "idle"}', admin)[0] == 403
    status, body = call(ingest, "/api/v1/heartbeats", b'{"state": "asleep"}', worker)
    assert (status, body["field"]) == (400, "state")
    status, body = call(ingest, "/api/v1/heartbeats", b'{"state": "busy", "activeTasks": -1}', worker)
    assert (status, body["field"]) == (400, "activeTasks")
    assert call(ingest, "/api/v1/heartbeats", b"not json", worker)[0] == 400
    assert call(ingest, "/api/v1/heartbeats", b"x" * 70_000, worker)[0] == 413


def test_other_requests_go_to_django(ingest, worker):
    assert call(ingest, "/api/v1/workers", b"", worker, method="GET")[0] == 204
    assert call(ingest, "/api/v1/heartbeats", b"", worker, method="GET")[0] == 204
    assert ingest.passed == [("GET", "/api/v1/workers"), ("GET", "/api/v1/heartbeats")]


def test_a_revoked_token_is_refused_once_the_cache_entry_expires(redis, worker):
    app = HeartbeatIngest(None, REDIS_URL, cache_seconds=0)
    assert call(app, "/api/v1/heartbeats", b'{"state": "idle"}', worker)[0] == 202
    AgentToken.objects.filter(subject="fast").update(revoked_at=timezone.now())
    assert call(app, "/api/v1/heartbeats", b'{"state": "idle"}', worker)[0] == 401


def test_reports_for_deleted_workers_are_dropped(ingest, redis, worker):
    call(ingest, "/api/v1/heartbeats", b'{"state": "idle"}', worker)
    Worker.objects.filter(name="fast").update(deletion_requested_at=timezone.now())
    assert flush_buffer(redis) == 0
    assert not Heartbeat.objects.exists()


def test_history_is_pruned_by_age_and_count(settings, worker):
    settings.HICLAW_HEARTBEAT_HISTORY_MAX = 3
    fast = Worker.objects.get(name="fast")
    now = timezone.now()
    for minutes in (10 * 24 * 60, 50, 40, 30, 20, 10):
        fast.record_heartbeat("idle", now=now - timedelta(minutes=minutes))
    assert prune_history(now) == 3  # one too old, two over the cap
    kept = Heartbeat.objects.filter(worker=fast).order_by("received_at")
    assert [int((now - h.received_at).total_seconds() // 60) for h in kept] == [30, 20, 10]


def test_nul_characters_are_refused_before_they_reach_the_database(ingest, worker):
    status, body = call(ingest, "/api/v1/heartbeats", b'{"state": "idle", "note": "a\\u0000b"}', worker)
    assert (status, body["field"]) == (400, "note")


def test_the_managers_reports_go_through_the_buffer_too(ingest, redis):
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: default}\nspec: {model: q}\n")
    token = AgentToken.mint("manager", "default")[1]
    body = json.dumps({"state": "busy", "activeTasks": 1, "runtimeVersion": "2.0"}).encode()
    assert call(ingest, "/api/v1/heartbeats", body, token) == (202, {"worker": "default", "accepted": True})
    assert flush_buffer(redis) == 1
    manager = Manager.objects.get(name="default")
    assert manager.version == "2.0" and manager.last_heartbeat is not None
    assert Heartbeat.objects.get(manager=manager).state == "busy"
