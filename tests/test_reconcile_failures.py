"""Failure paths of the Worker reconciler: backoff, conditions, nothing deleted; locks; prefixes."""

from __future__ import annotations

import pytest

from controller import reconcilers
from controller.clients.gateway import GatewayClient
from controller.clients.matrix import MatrixClient
from controller.clients.storage import storage_from_url
from controller.connections import Connections, default_connections
from controller.models import Worker
from controller.reconcilers.base import backoff
from controller.reconcilers.locks import resource_lock
from controller.services.apply import apply_text
from tests.helpers import free_port, lock_held_elsewhere

MANIFEST = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: bo}\nspec: {model: qwen}\n"


def test_backoff_doubles_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(50) == 300


@pytest.mark.django_db
def test_unreachable_gateway_sets_condition_backs_off_and_keeps_earlier_progress(settings):
    embedded = default_connections()  # gateway disabled
    broken = Connections(
        backend=embedded.backend,
        storage=embedded.storage,
        matrix=None,
        gateway=GatewayClient(f"http://127.0.0.1:{free_port()}", "admin", "pw", timeout=1),
    )
    apply_text(MANIFEST)
    first = reconcilers.reconcile("Worker", "bo", connections=broken)
    second = reconcilers.reconcile("Worker", "bo", connections=broken)
    assert (first.requeue_after, second.requeue_after) == (2, 4)

    worker = Worker.objects.get(name="bo")
    assert (worker.phase, worker.failures, worker.observed_generation) == ("Pending", 2, 0)
    gateway = worker.condition("GatewayReady")
    assert (gateway["status"], gateway["reason"]) == ("False", "Unavailable")
    assert worker.message.startswith("GatewayReady: ")
    assert worker.condition("MatrixReady")["reason"] == "Disabled"  # the step before it is recorded
    assert embedded.backend.status("hiclaw-worker-bo").state == "Missing"  # later steps did not run

    # Once the gateway is back (here: disabled), the worker converges and the count resets.
    assert reconcilers.reconcile("Worker", "bo", connections=embedded).requeue_after is None
    worker.refresh_from_db()
    assert (worker.phase, worker.failures, worker.message) == ("Running", 0, "")


@pytest.mark.django_db
@pytest.mark.parametrize("broken", ["matrix", "storage"])
def test_unreachable_matrix_or_storage_is_a_temporary_failure_that_deletes_nothing(settings, broken):
    embedded = default_connections()
    closed = f"127.0.0.1:{free_port()}"
    settings.HICLAW_MATRIX_DOMAIN = "hs.test"
    services = Connections(
        backend=embedded.backend,
        storage=storage_from_url(f"s3://key:secret@{closed}/bucket?secure=false")
        if broken == "storage"
        else embedded.storage,
        matrix=MatrixClient(f"http://{closed}", "hs.test", registration_secret="s", timeout=1)
        if broken == "matrix"
        else None,
        gateway=embedded.gateway,
    )
    apply_text(MANIFEST)
    assert reconcilers.reconcile("Worker", "bo", connections=services).requeue_after == 2
    worker = Worker.objects.get(name="bo")
    condition = worker.condition({"matrix": "MatrixReady", "storage": "StorageReady"}[broken])
    assert (condition["status"], condition["reason"]) == ("False", "Unavailable")
    assert (worker.phase, worker.failures) == ("Pending", 1)
    assert embedded.backend.status("hiclaw-worker-bo").state == "Missing"  # the instance step never ran
    assert Worker.objects.filter(name="bo", deletion_requested_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_program_that_cannot_run_is_a_permanent_failure(monkeypatch):
    from controller.reconcilers import agent as agent_module

    monkeypatch.setattr(agent_module.sys, "executable", "/nonexistent/python3")
    apply_text(MANIFEST)
    result = reconcilers.reconcile("Worker", "bo")
    worker = Worker.objects.get(name="bo")
    assert (worker.phase, worker.failures, result.requeue_after) == ("Failed", 1, 2)
    instance = worker.condition("InstanceReady")
    assert (instance["status"], instance["reason"]) == ("False", "ImageNotFound")
    assert "/nonexistent/python3" in instance["message"]
    assert default_connections().storage.exists("agents/bo/openclaw.json")  # nothing deleted on failure


@pytest.mark.django_db
def test_without_a_controller_url_no_instance_is_started(settings):
    settings.HICLAW_CONTROLLER_URL = ""
    apply_text(MANIFEST)
    reconcilers.reconcile("Worker", "bo")
    worker = Worker.objects.get(name="bo")
    assert worker.phase == "Failed"
    assert worker.condition("InstanceReady")["reason"] == "NoControllerURL"
    assert "HICLAW_CONTROLLER_URL is not set" in worker.message
    assert default_connections().backend.list() == []


@pytest.mark.django_db(transaction=True)
def test_a_held_lock_makes_other_passes_wait_or_skip():
    with lock_held_elsewhere("Worker/bo"):
        with resource_lock("Worker/bo") as held:
            assert not held
        assert reconcilers.reconcile("Worker", "bo", from_resync=True).requeue_after is None
        assert reconcilers.reconcile("Worker", "bo").requeue_after == reconcilers.BUSY_RETRY_SECONDS
    with resource_lock("Worker/bo") as held:
        assert held


@pytest.mark.django_db
def test_every_external_name_follows_the_resource_prefix(settings):
    settings.HICLAW_RESOURCE_PREFIX = "acme-"
    settings.HICLAW_CONTROLLER_ID = "acme"
    from controller import naming

    assert naming.instance_name("worker", "bo") == "acme-worker-bo"
    assert naming.matrix_localpart("worker", "bo") == "acme-worker-bo"
    assert naming.room_alias("worker", "bo") == "acme-worker-bo-room"
    assert naming.consumer_name("worker", "bo") == "acme-worker-bo"
    apply_text(MANIFEST)
    reconcilers.reconcile("Worker", "bo")
    backend = default_connections().backend
    assert [(i.name, i.labels["hiclaw.io/controller"]) for i in backend.list()] == [("acme-worker-bo", "acme")]


@pytest.mark.django_db
def test_deletion_waits_for_a_service_that_is_down_then_completes():
    embedded = default_connections()
    apply_text(MANIFEST)
    reconcilers.reconcile("Worker", "bo")
    Worker.objects.filter(name="bo").update(deletion_requested_at="2026-01-01T00:00:00Z")
    down = Connections(
        backend=embedded.backend,
        storage=embedded.storage,
        matrix=None,
        gateway=GatewayClient(f"http://127.0.0.1:{free_port()}", "admin", "pw", timeout=1),
    )
    assert reconcilers.reconcile("Worker", "bo", connections=down).requeue_after == 2
    worker = Worker.objects.get(name="bo")
    assert worker.message.startswith("deletion waits:") and worker.failures == 1
    assert reconcilers.reconcile("Worker", "bo").requeue_after is None
    assert not Worker.objects.filter(name="bo").exists()
    assert embedded.backend.status("hiclaw-worker-bo").state == "Missing"
