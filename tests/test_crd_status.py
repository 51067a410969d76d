"""The CRD front door's pieces that need no API server: the manifest an object stands for,
the status it should show, and when a save queues a status write. The whole front door on a
real API server is in tests/test_crd_mirror.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from controller.manifests import ManifestInvalid, parse_objects
from controller.models import Team, Worker
from controller.services import crd_status, live, watchers
from controller.services.apply import apply_documents
from controller.services.crd_apply import manifest_of
from tests.helpers import manifest

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def an_object(name: str = "obj", generation: int = 3, **metadata) -> dict:
    body = manifest("Worker", name, {"model": "qwen3.5-plus"})
    body["metadata"].update(namespace="hiclaw", generation=generation, uid="u-1", **metadata)
    return body


def mirrored_worker(name: str = "obj", generation: int = 3) -> Worker:
    apply_documents(parse_objects([manifest_of(an_object(name, generation))]))
    return Worker.objects.get(name=name)


def test_the_manifest_of_an_object_is_marked_and_leaves_client_annotations_out():
    obj = an_object(
        labels={"app": "x"},
        annotations={
            "kubectl.kubernetes.io/last-applied-configuration": '{"spec": {"secret": "s"}}',
            "hiclaw.io/source": "api",  # set by hand: the front door's own mark wins
            "note": "kept",
        },
    )
    built = manifest_of(obj)
    assert built["metadata"] == {
        "name": "obj",
        "labels": {"app": "x"},
        "annotations": {"note": "kept", "hiclaw.io/source": "crd", "hiclaw.io/crd-generation": "3"},
    }
    assert built["spec"] == {"model": "qwen3.5-plus"}


def test_an_object_without_spec_is_refused_naming_spec():
    obj = an_object()
    del obj["spec"]
    with pytest.raises(ManifestInvalid) as refused:
        parse_objects([manifest_of(obj)])
    assert refused.value.errors[0].field == "spec"


def test_observed_generation_is_the_objects_once_reconciled_and_the_old_one_until_then():
    worker = mirrored_worker(generation=3)
    assert "observedGeneration" not in crd_status.desired_status(worker, {})  # never reconciled
    assert crd_status.desired_status(worker, {"observedGeneration": 2})["observedGeneration"] == 2

    worker.observed_generation, worker.phase = worker.generation, "Running"
    status = crd_status.desired_status(worker, {"observedGeneration": 2})
    assert (status["observedGeneration"], status["phase"]) == (3, "Running")


def test_the_status_leaves_out_heartbeat_times_and_keeps_transition_times():
    worker = mirrored_worker()
    worker.set_condition("InstanceReady", "True", "Running")
    shown = [{**worker.conditions[0], "lastTransitionTime": "2026-01-01T00:00:00+00:00"}]
    status = crd_status.desired_status(worker, {"conditions": shown})
    assert status["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00+00:00"
    worker.set_condition("InstanceReady", "False", "Stopped")
    status = crd_status.desired_status(worker, {"conditions": shown})
    assert status["conditions"][0]["lastTransitionTime"] != "2026-01-01T00:00:00+00:00"
    assert "lastHeartbeat" not in status


def writes(callbacks: list) -> list:
    """The queued object writes; the dashboard's live notices (one batch per transaction) are not counted."""
    return [callback for callback in callbacks if not isinstance(callback, live.NoticeBatch)]


def test_a_status_change_of_a_mirrored_resource_queues_one_write(settings, django_capture_on_commit_callbacks):
    settings.HICLAW_WATCH_CRDS = True
    worker = mirrored_worker("queued")
    with django_capture_on_commit_callbacks() as callbacks:
        worker.message = "first"
        worker.save()
        worker.save()  # no status change: nothing more
        worker.last_heartbeat = timezone.now()
        worker.save()  # the first heartbeat: the Healthy condition appears
        worker.last_heartbeat = timezone.now() + timedelta(seconds=30)
        worker.save()  # a later heartbeat changes only times the object does not show
    assert len(writes(callbacks)) == 2

    apply_documents(parse_objects([manifest("Worker", "api-made", {"model": "qwen3.5-plus"})]))
    other = Worker.objects.get(name="api-made")
    with django_capture_on_commit_callbacks() as callbacks:
        other.message = "changed"
        other.save()  # applied through the API: it has no object
        settings.HICLAW_WATCH_CRDS = False
        worker.message = "second"
        worker.save()  # the front door is off
    assert writes(callbacks) == []


def test_the_crds_watcher_runs_only_when_the_setting_is_on(settings):
    settings.HICLAW_WATCH_CRDS = False
    assert "crds" not in watchers.watchers()
    settings.HICLAW_WATCH_CRDS = True
    assert set(watchers.watchers()) == {"instances", "crds"}


def test_a_mirrored_members_status_change_queues_its_own_write_and_its_teams(
    settings, django_capture_on_commit_callbacks
):
    settings.HICLAW_WATCH_CRDS = True
    team = yaml.safe_load((EXAMPLES / "team-alpha.yaml").read_text())
    team["metadata"].update(namespace="hiclaw", generation=1, uid="u-team")
    apply_documents(parse_objects([manifest_of(team)]))
    member = Worker.objects.get(name="alpha-dev")
    member.annotations = {**member.annotations, **Team.objects.get(name="alpha-team").annotations}
    member.save()
    assert crd_status.is_mirrored(member)
    with django_capture_on_commit_callbacks() as callbacks:
        member.message = "changed"
        member.save()
    assert len(callbacks) == 2  # the member's object and its Team's
