"""Applying manifests: generations, no-op re-applies, team membership, conflicts, dry runs."""

from __future__ import annotations

import pytest

from controller.manifests import ManifestInvalid
from controller.models import Manager, Team, Worker
from controller.services.apply import apply_text
from tests.conftest import example
from tests.helpers import manifest, to_yaml


def solo(model: str = "qwen", **metadata: dict[str, str]) -> str:
    """Standalone worker ``solo``; ``metadata`` may give its labels and annotations."""
    return to_yaml(manifest("Worker", "solo", {"model": model}, **metadata))


def team(workers: list[str], max_workers: int | None = None, image: str = "img:1", name: str = "alpha") -> str:
    leader = {"name": f"{name}-lead", "model": "qwen"}
    if max_workers is not None:
        leader["permissions"] = {"maxWorkers": max_workers}
    members = [{"name": worker, "model": "qwen"} for worker in workers]
    return to_yaml(manifest("Team", name, {"image": image, "leader": leader, "workers": members}))


def members(status: str = "live") -> set[str]:
    rows = Worker.objects.filter(team__name="alpha")
    if status == "live":
        rows = rows.filter(deletion_requested_at__isnull=True)
    return set(rows.values_list("name", flat=True))


def test_create_then_unchanged_reapply_keeps_generation_and_queues_nothing(apply):
    assert [str(o) for o in apply(solo())] == ["worker/solo created"]
    assert len(apply.callbacks) == 2  # the reconcile and the live update
    assert [str(o) for o in apply(solo())] == ["worker/solo unchanged"]
    assert apply.callbacks == []
    assert Worker.objects.get(name="solo").generation == 1


def test_spec_change_bumps_generation_and_queues_a_reconcile(apply):
    apply(solo())
    assert [str(o) for o in apply(solo(model="claude"))] == ["worker/solo configured"]
    worker = Worker.objects.get(name="solo")
    assert (worker.generation, worker.model) == (2, "claude")
    assert len(apply.callbacks) == 2  # the reconcile and the live update


def test_label_change_is_configured_without_a_new_generation(apply):
    apply(solo())
    assert [o.action for o in apply(solo(labels={"tier": "gold"}))] == ["configured"]
    worker = Worker.objects.get(name="solo")
    assert (worker.generation, worker.labels) == (1, {"tier": "gold"})


def test_reconcile_runs_after_commit(apply, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        apply_text(solo())
    assert Worker.objects.get(name="solo").reconciled_at is not None


def test_dry_run_reports_but_changes_nothing(apply):
    assert [str(o) for o in apply(solo(), dry_run=True)] == ["worker/solo created"]
    assert not Worker.objects.exists()
    assert apply.callbacks == []


def test_team_add_member_creates_one_row_and_touches_no_other(apply):
    apply(team(["a", "b"]))
    before = {w.name: w.generation for w in Worker.objects.all()}
    assert [str(o) for o in apply(team(["a", "b", "c"]))] == ["team/alpha configured"]
    assert members() == {"alpha-lead", "a", "b", "c"}
    after = {w.name: w.generation for w in Worker.objects.all()}
    assert {name: after[name] for name in before} == before
    assert Worker.objects.get(name="c").annotations == {"hiclaw.io/team": "alpha", "hiclaw.io/role": "worker"}


def test_team_remove_member_marks_it_and_the_reconcile_removes_the_row(apply, eager_celery):
    apply(team(["a", "b"]))
    apply(team(["a"]))
    assert members() == {"alpha-lead", "a"}
    assert Worker.objects.get(name="b").deletion_requested_at is not None
    for callback in apply.callbacks:
        callback()
    assert members("all") == {"alpha-lead", "a"}


def test_readding_a_member_being_removed_cancels_the_removal(apply):
    apply(team(["a", "b"]))
    apply(team(["a"]))
    apply(team(["a", "b"]))
    assert Worker.objects.get(name="b").deletion_requested_at is None


def test_team_image_change_changes_members_desired_image(apply):
    apply(team(["a"]))
    apply(team(["a"], image="img:2"))
    assert set(Worker.objects.filter(team__name="alpha").values_list("image", flat=True)) == {"img:2"}
    assert Worker.objects.get(name="a").generation == 2


def test_member_beyond_max_workers_is_refused_and_nothing_changes(apply):
    apply(team(["a"], max_workers=1))
    with pytest.raises(ManifestInvalid) as refused:
        apply(team(["a", "b"], max_workers=1))
    assert "used 2/max 1" in str(refused.value)
    assert members() == {"alpha-lead", "a"}
    assert Team.objects.get(name="alpha").generation == 1


def test_member_name_taken_by_standalone_worker_is_refused(apply):
    apply(solo())
    with pytest.raises(ManifestInvalid) as refused:
        apply(team(["solo"]))
    [error] = refused.value.errors
    assert (error.field, error.rule) == ("spec.workers[0].name", "name-taken")
    assert "standalone worker" in error.message
    assert not Team.objects.exists()
    assert Worker.objects.get(name="solo").team is None


def test_member_cannot_be_changed_as_a_worker_but_its_export_applies_unchanged(apply):
    apply(team(["a"]))

    def member(model: str) -> str:
        annotations = {"hiclaw.io/team": "alpha", "hiclaw.io/role": "worker"}
        return to_yaml(manifest("Worker", "a", {"model": model, "image": "img:1"}, annotations=annotations))

    assert [o.action for o in apply(member("qwen"))] == ["unchanged"]
    with pytest.raises(ManifestInvalid) as refused:
        apply(member("claude"))
    assert "member of team/alpha" in str(refused.value)


def test_team_annotation_on_a_standalone_worker_is_refused(apply):
    with pytest.raises(ManifestInvalid) as refused:
        apply(solo(annotations={"hiclaw.io/team": "alpha"}))
    assert refused.value.errors[0].field == "metadata.annotations.hiclaw.io/team"


def test_two_teams_cannot_share_a_member(apply):
    apply(team(["shared"]))
    with pytest.raises(ManifestInvalid) as refused:
        apply(team(["shared"], name="beta"))
    assert "member of team/alpha" in str(refused.value)


def test_applying_a_resource_being_deleted_is_refused(apply):
    apply(solo())
    Worker.objects.filter(name="solo").update(deletion_requested_at="2026-01-01T00:00:00Z")
    with pytest.raises(ManifestInvalid) as refused:
        apply(solo(model="claude"))
    assert refused.value.errors[0].rule == "deleting"


def test_a_batch_with_a_conflict_applies_nothing(apply):
    apply(solo())
    batch = example("manager.yaml") + "---\n" + team(["solo"])
    with pytest.raises(ManifestInvalid) as refused:
        apply(batch)
    assert refused.value.errors[0].document == 2
    assert not Team.objects.exists()
    assert not Manager.objects.exists()
