"""HICLAW_MIN_RUNTIME_VERSION: the UpgradeRequired condition, set and cleared by heartbeats
on both paths (the API view, and the Redis buffer the fast path fills and a flush applies)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from controller.ingest import HeartbeatIngest
from controller.models import AgentToken, Worker
from controller.models.runtime_version import older_than
from controller.services.apply import apply_text
from controller.services.heartbeats import apply_reports, decode, encode, flush_buffer, parse_report
from tests.helpers import empty_redis
from tests.test_heartbeat_ingest import call

# A Redis database of its own: tests/test_heartbeat_ingest.py empties database 9 around each test.
REDIS_URL = "redis://127.0.0.1:6379/10"

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis():
    with empty_redis(REDIS_URL) as client:
        yield client


@pytest.fixture
def worker(settings):
    settings.HICLAW_MIN_RUNTIME_VERSION = "0.2.0"
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: fast}\nspec: {model: q}\n")
    return AgentToken.mint("worker", "fast")[1]


def upgrade_required() -> tuple[str, str] | None:
    condition = next(
        (c for c in Worker.objects.get(name="fast").status_manifest()["conditions"] if c["type"] == "UpgradeRequired"),
        None,
    )
    return (condition["status"], condition["message"]) if condition else None


@pytest.mark.parametrize(
    ("reported", "minimum", "older"),
    [
        ("1.2.0", "1.10.0", True),
        ("1.10.0", "1.2.0", False),
        ("reference-0.1.0", "0.2.0", True),  # the trailing version part is compared
        ("openclaw 2.3.1", "reference-2.3.1", False),
        ("1.0.0rc1", "1.0.0", True),
        ("nightly", "1.0", None),  # nothing to compare
    ],
)
def test_versions_compare_by_their_trailing_version_part(reported, minimum, older):
    assert older_than(reported, minimum) is older


def test_the_view_sets_and_clears_the_condition(worker, settings):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {worker}")
    assert upgrade_required() is None  # nothing reported yet
    client.post("/api/v1/heartbeats", {"state": "idle", "runtimeVersion": "reference-0.1.0"}, format="json")
    assert upgrade_required() == ("True", "reports reference-0.1.0, minimum 0.2.0")
    client.post("/api/v1/heartbeats", {"state": "idle", "runtimeVersion": "reference-0.2.1"}, format="json")
    assert upgrade_required() == ("False", "reports reference-0.2.1, minimum 0.2.0")
    settings.HICLAW_MIN_RUNTIME_VERSION = ""
    assert upgrade_required() is None  # no minimum, no check


def test_buffered_reports_set_and_clear_the_condition(worker):
    # What the flush applies: reports encoded into the Redis list and decoded from it.
    for version, status in (("reference-0.1.0", "True"), ("reference-0.3.0", "False")):
        report = parse_report("fast", {"state": "idle", "runtimeVersion": version})
        apply_reports([decode(encode(report))])
        assert upgrade_required()[0] == status


def test_the_fast_path_and_flush_set_the_condition(redis, worker):
    ingest = HeartbeatIngest(None, REDIS_URL, cache_seconds=30)
    body = json.dumps({"state": "idle", "runtimeVersion": "reference-0.1.0"}).encode()
    assert call(ingest, "/api/v1/heartbeats", body, worker)[0] == 202
    assert upgrade_required() is None  # buffered, not applied yet
    assert flush_buffer(redis) == 1
    assert upgrade_required() == ("True", "reports reference-0.1.0, minimum 0.2.0")
