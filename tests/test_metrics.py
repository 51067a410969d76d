"""``GET /metrics``: what reconciles, queues and heartbeats count, the gauges read from the
database, and who may read any of it.

Counters live for the whole test process, so each test compares a scrape taken
after the action with one taken before. The exposition is parsed with
prometheus_client's own parser, as Prometheus would read it.
"""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from controller.connections import default_connections
from controller.ingest import HeartbeatIngest
from controller.models import AgentToken, TargetState, Upgrade, UpgradeState, UpgradeTarget, Worker
from controller.reconcile_queue import DUE_HEADER
from controller.reconcilers import BUSY_RETRY_SECONDS
from controller.services.apply import apply_text
from controller.tasks import reconcile_resource
from tests.helpers import empty_redis, free_port, lock_held_elsewhere
from tests.test_heartbeat_ingest import call

TOKEN = "metrics-test-token-4f1c9a"
MANIFEST = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: %s}\nspec: {model: qwen}\n"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.HICLAW_METRICS_TOKEN = TOKEN


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client) -> Samples:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- reconciles -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_worker_reconciled_through_celery_is_counted_timed_and_shown_by_phase(
    client, eager_celery, django_capture_on_commit_callbacks
):
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):  # the queued reconcile runs inline
        apply_text(MANIFEST % "ada")
    assert Worker.objects.get(name="ada").phase == "Running"
    after = scrape(client)

    assert grew(before, after, "hiclaw_reconcile_total", kind="Worker", result="ok") >= 1
    assert grew(before, after, "hiclaw_reconcile_duration_seconds_count", kind="Worker") >= 1
    assert grew(before, after, "hiclaw_reconcile_duration_seconds_sum", kind="Worker") > 0
    assert grew(before, after, "hiclaw_reconcile_errors_total", kind="Worker") == 0
    # The message carried the time it was due, so the task recorded how late it started.
    assert grew(before, after, "hiclaw_reconcile_queue_lag_seconds_count", kind="Worker") >= 1
    assert value(after, "hiclaw_reconciles_in_progress", kind="Worker") == 0
    assert value(after, "hiclaw_workers", phase="Running") == 1
    assert value(after, "hiclaw_workers", phase="Pending") == 0  # every phase is listed, at 0 when empty
    assert ("hiclaw_workers", frozenset({("phase", "Failed")})) in after


@pytest.mark.django_db
def test_a_failing_pass_counts_as_an_error_and_asks_for_no_requeue_count(client, settings):
    settings.HICLAW_GATEWAY_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    default_connections.cache_clear()
    apply_text(MANIFEST % "bo")
    before = scrape(client)
    reconcile_resource("Worker", "bo")  # its retry goes to the tests' in-memory broker
    after = scrape(client)

    worker = Worker.objects.get(name="bo")
    assert (worker.phase, worker.failures) == ("Pending", 1)
    assert grew(before, after, "hiclaw_reconcile_total", kind="Worker", result="error") == 1
    assert grew(before, after, "hiclaw_reconcile_errors_total", kind="Worker") == 1
    assert grew(before, after, "hiclaw_reconcile_total", kind="Worker", result="requeue") == 0
    assert grew(before, after, "hiclaw_reconcile_duration_seconds_count", kind="Worker") == 1
    assert value(after, "hiclaw_workers", phase="Pending") == 1


@pytest.mark.django_db
def test_a_pass_that_raises_is_an_error_under_a_bounded_kind_label(client):
    before = scrape(client)
    with pytest.raises(KeyError):
        reconcile_resource("NoSuchKind-" + "x" * 40, "bo")
    after = scrape(client)
    assert grew(before, after, "hiclaw_reconcile_errors_total", kind="unknown") == 1
    assert grew(before, after, "hiclaw_reconcile_total", kind="unknown", result="error") == 1
    assert not any("NoSuchKind" in str(labels) for _, labels in after)


@pytest.mark.django_db
def test_a_pass_that_finds_the_resource_busy_counts_as_a_requeue(client):
    with lock_held_elsewhere("Worker/busy"):
        before = scrape(client)
        reconcile_resource("Worker", "busy")
    after = scrape(client)
    assert grew(before, after, "hiclaw_reconcile_total", kind="Worker", result="requeue") == 1
    assert grew(before, after, "hiclaw_reconcile_errors_total", kind="Worker") == 0
    assert BUSY_RETRY_SECONDS > 0


@pytest.mark.django_db
def test_queue_lag_is_measured_from_when_the_message_was_due_and_only_when_it_says(client):
    before = scrape(client)
    reconcile_resource.apply(args=("Worker", "late"), headers={DUE_HEADER: time.time() - 30})
    middle = scrape(client)
    assert grew(before, middle, "hiclaw_reconcile_queue_lag_seconds_count", kind="Worker") == 1
    assert grew(before, middle, "hiclaw_reconcile_queue_lag_seconds_sum", kind="Worker") >= 30
    assert grew(before, middle, "hiclaw_reconcile_queue_lag_seconds_bucket", kind="Worker", le="10.0") == 0

    # A message queued by older code has no such header: the pass runs and no lag is made up.
    reconcile_resource.apply(args=("Worker", "late"))
    reconcile_resource.apply(args=("Worker", "late"), headers={DUE_HEADER: "soon"})
    after = scrape(client)
    assert grew(middle, after, "hiclaw_reconcile_queue_lag_seconds_count", kind="Worker") == 0
    assert grew(middle, after, "hiclaw_reconcile_total", kind="Worker", result="ok") == 2


# --- heartbeats and gauges from the database ------------------------------------------


@pytest.mark.django_db
def test_a_heartbeat_posted_through_the_api_is_counted_and_a_refused_one_is_not(client):
    apply_text(MANIFEST % "hb")
    _, clear = AgentToken.mint("worker", "hb")
    agent = APIClient()
    before = scrape(client)
    agent.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert agent.post("/api/v1/heartbeats", {"state": "idle"}, format="json").status_code == 202
    agent.credentials(HTTP_AUTHORIZATION="Bearer hct_wrong")
    assert agent.post("/api/v1/heartbeats", {"state": "idle"}, format="json").status_code == 401
    after = scrape(client)
    assert grew(before, after, "hiclaw_heartbeats_received_total", kind="worker") == 1
    assert grew(before, after, "hiclaw_heartbeats_received_total", kind="manager") == 0


@pytest.fixture
def redis():
    with empty_redis("redis://127.0.0.1:6379/13") as client:
        yield client


@pytest.mark.django_db
def test_a_heartbeat_taken_by_the_redis_fast_path_is_counted_there(client, redis):
    apply_text(MANIFEST % "fast")
    _, clear = AgentToken.mint("worker", "fast")
    ingest = HeartbeatIngest(None, "redis://127.0.0.1:6379/13", cache_seconds=0)
    before = scrape(client)
    assert call(ingest, "/api/v1/heartbeats", b'{"state": "busy", "activeTasks": 1}', clear)[0] == 202
    assert call(ingest, "/api/v1/heartbeats", b'{"state": "asleep"}', clear)[0] == 400
    assert grew(before, scrape(client), "hiclaw_heartbeats_received_total", kind="worker") == 1


@pytest.mark.django_db
def test_unhealthy_workers_and_unfinished_rollouts_are_read_from_the_database(client):
    for name in ("w1", "w2", "w3", "w4"):
        apply_text(MANIFEST % name)
    Worker.objects.filter(name__in=["w1", "w2"]).update(heartbeat_missed_since=timezone.now())
    running = Upgrade.objects.create(kind="rollout", scope="all", requested_by="ops", state=UpgradeState.RUNNING)
    for worker, state in (("w1", "done"), ("w2", "running"), ("w3", "pending"), ("w4", "pending")):
        UpgradeTarget.objects.create(upgrade=running, worker=worker, state=state)
    done = Upgrade.objects.create(kind="rollout", scope="all", requested_by="ops", state=UpgradeState.DONE)
    UpgradeTarget.objects.create(upgrade=done, worker="w1", state=TargetState.DONE)
    push = Upgrade.objects.create(kind="push", scope="all", requested_by="ops", state=UpgradeState.RUNNING)
    UpgradeTarget.objects.create(upgrade=push, worker="w1", state=TargetState.PENDING)

    samples = scrape(client)
    assert value(samples, "hiclaw_unhealthy_workers") == 2
    assert value(samples, "hiclaw_workers", phase="Pending") == 4
    assert {state: value(samples, "hiclaw_rollout_targets", state=state) for state in TargetState.values} == {
        "pending": 2,
        "running": 1,
        "done": 1,
        "failed": 0,
    }
    progress = {labels: v for (name, labels), v in samples.items() if name == "hiclaw_rollout_progress_ratio"}
    assert progress == {frozenset({("upgrade", str(running.pk))}): 0.25}  # finished rollouts and pushes are not listed


# --- who may read ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"])
def test_without_the_token_the_answer_is_401_and_shows_nothing(client, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **headers)  # from loopback: the token is needed all the same
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert b"hiclaw_" not in response.content and TOKEN.encode() not in response.content


@pytest.mark.django_db
def test_the_right_token_reads_from_any_address_and_only_with_get(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200 and b"# TYPE hiclaw_reconcile_total counter" in response.content
    assert response["Cache-Control"] == "no-store"
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    assert client.post("/metrics").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    "request_headers",
    [
        {"REMOTE_ADDR": "203.0.113.9"},
        {"REMOTE_ADDR": "10.0.0.5", "HTTP_AUTHORIZATION": "Bearer "},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "203.0.113.9"},
        {"REMOTE_ADDR": "not-an-address"},
    ],
)
def test_with_no_token_set_any_request_but_a_direct_local_one_gets_404(client, settings, request_headers):
    settings.HICLAW_METRICS_TOKEN = ""
    response = client.get("/metrics", **request_headers)
    assert response.status_code == 404 and b"hiclaw_" not in response.content


@pytest.mark.django_db
def test_with_no_token_set_loopback_reads_unless_behind_a_proxy(client, settings):
    settings.HICLAW_METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer anything").status_code == 200
    # Behind a proxy on the same machine every request arrives from loopback: none is local.
    settings.HICLAW_BEHIND_PROXY = True
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 404 and b"hiclaw_" not in response.content
