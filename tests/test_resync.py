"""The periodic resync queues only what is not converged, and collects orphan instances."""

from __future__ import annotations

import sys
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controller import reconcilers
from controller.backends.base import InstanceSpec
from controller.connections import default_connections
from controller.models import Human, Worker
from controller.reconcilers.resync import resync
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml

pytestmark = pytest.mark.django_db

SLEEP = (sys.executable, "-c", "import time; time.sleep(600)")


def worker(name: str, state: str = "Running") -> str:
    return to_yaml(manifest("Worker", name, {"model": "q", "state": state}))


def run_resync() -> tuple[list[tuple[str, str]], object]:
    queued: list[tuple[str, str]] = []
    report = resync(default_connections().backend, lambda kind, name: queued.append((kind, name)))
    return queued, report


def test_converged_resources_are_not_queued():
    apply_text(worker("a") + "---\n" + worker("b", "Sleeping"))
    apply_text(to_yaml(manifest("Human", "h", {"displayName": "H"})))
    for name in ("a", "b"):
        reconcilers.reconcile("Worker", name)
    Human.objects.update(observed_generation=1)
    queued, report = run_resync()
    assert queued == [] and report.checked == 3


def test_new_generation_failures_and_deletions_are_queued():
    apply_text(worker("a") + "---\n" + worker("b") + "---\n" + worker("c"))
    for name in ("a", "b", "c"):
        reconcilers.reconcile("Worker", name)
    apply_text(worker("a", "Stopped"))  # generation 2, not yet observed
    Worker.objects.filter(name="b").update(failures=3)
    Worker.objects.filter(name="c").update(deletion_requested_at="2026-01-01T00:00:00Z")
    queued, _ = run_resync()
    assert sorted(queued) == [("Worker", "a"), ("Worker", "b"), ("Worker", "c")]


def test_an_instance_that_died_is_queued():
    apply_text(worker("a"))
    reconcilers.reconcile("Worker", "a")
    default_connections().backend.stop("hiclaw-worker-a")  # out of band
    queued, _ = run_resync()
    assert queued == [("Worker", "a")]
    # A stop the controller did not ask for is a crash: the restart waits its backoff (1 s).
    result = reconcilers.reconcile("Worker", "a")
    assert result.requeue_after is not None and 0 < result.requeue_after <= 1
    assert not default_connections().backend.status("hiclaw-worker-a").running
    time.sleep(result.requeue_after)
    reconcilers.reconcile("Worker", "a")
    assert default_connections().backend.status("hiclaw-worker-a").running


def test_orphan_instances_labelled_ours_are_deleted():
    backend = default_connections().backend
    backend.create(InstanceSpec(name="hiclaw-worker-ghost", kind="worker", resource="ghost", command=SLEEP))
    apply_text(worker("a"))
    reconcilers.reconcile("Worker", "a")
    _, report = run_resync()
    assert report.orphans_deleted == 1
    assert [info.resource for info in backend.list()] == ["a"]


def test_queries_per_pass_do_not_grow_with_the_number_of_workers():
    def queries_for(count: int) -> int:
        Worker.objects.all().delete()
        Worker.objects.bulk_create(
            Worker(name=f"w{i}", spec={"model": "q"}, observed_generation=1, state="Stopped") for i in range(count)
        )
        with CaptureQueriesContext(connection) as context:
            run_resync()
        return len(context.captured_queries)

    assert queries_for(10) == queries_for(300)


def test_orphan_manager_instances_are_deleted_and_a_stopped_manager_is_queued():
    backend = default_connections().backend
    backend.create(InstanceSpec(name="hiclaw-manager-ghost", kind="manager", resource="ghost", command=SLEEP))
    apply_text(to_yaml(manifest("Manager", "boss", {"model": "q"})))
    reconcilers.reconcile("Manager", "boss")
    backend.stop("hiclaw-manager-boss")
    queued, report = run_resync()
    assert report.orphans_deleted == 1
    assert queued == [("Manager", "boss")]
    assert [info.resource for info in backend.list()] == ["boss"]
