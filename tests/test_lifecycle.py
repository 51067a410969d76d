"""Desired-state changes (run state, deletion) go through the manifest path."""

from __future__ import annotations

import pytest

from controller.models import Manager, Team, Worker
from controller.services.apply import apply_text
from controller.services.lifecycle import LifecycleRefused, request_deletion, set_desired_state
from tests.conftest import example


def test_sleeping_a_standalone_worker_changes_its_spec(apply):
    apply(example("worker-standalone.yaml"))
    worker = Worker.objects.get(name="research-bot")
    set_desired_state(worker, "Sleeping")
    worker.refresh_from_db()
    assert (worker.state, worker.spec["state"], worker.generation) == ("Sleeping", "Sleeping", 2)


def test_sleeping_a_team_member_records_it_in_the_team_spec(apply):
    apply(example("team-alpha.yaml"))
    set_desired_state(Worker.objects.get(name="alpha-qa"), "Sleeping")
    team = Team.objects.get(name="alpha-team")
    states = {w["name"]: w["state"] for w in team.spec["workers"]}
    assert states == {"alpha-dev": "Running", "alpha-qa": "Sleeping", "alpha-docs": "Running"}
    assert Worker.objects.get(name="alpha-qa").state == "Sleeping"
    assert Worker.objects.get(name="alpha-dev").generation == 1

    set_desired_state(Worker.objects.get(name="alpha-lead"), "Stopped")
    assert Team.objects.get(name="alpha-team").spec["leader"]["state"] == "Stopped"
    assert Worker.objects.get(name="alpha-lead").state == "Stopped"


def test_manager_state_can_be_changed(apply):
    apply(example("manager.yaml"))
    set_desired_state(Manager.objects.get(name="default"), "Stopped")
    assert Manager.objects.get(name="default").state == "Stopped"


def test_unknown_state_is_refused(apply):
    apply(example("manager.yaml"))
    with pytest.raises(LifecycleRefused, match="state must be one of Running, Sleeping, Stopped"):
        set_desired_state(Manager.objects.get(name="default"), "Paused")


def test_deleting_a_team_marks_it_and_its_members(apply, eager_celery, django_capture_on_commit_callbacks):
    apply(example("team-alpha.yaml"))
    team = Team.objects.get(name="alpha-team")
    with django_capture_on_commit_callbacks() as callbacks:
        assert request_deletion(team) is True
    assert Worker.objects.filter(team=team, deletion_requested_at__isnull=True).count() == 0
    assert request_deletion(team) is False  # already marked
    # Members are removed by their reconciles; the team goes once they are gone.
    for callback in callbacks[1:]:
        callback()
    callbacks[0]()
    assert not Team.objects.exists() and not Worker.objects.exists()


def test_a_member_cannot_be_deleted_on_its_own(apply):
    apply(example("team-alpha.yaml"))
    with pytest.raises(LifecycleRefused, match=r"remove it from that Team's spec\.workers"):
        request_deletion(Worker.objects.get(name="alpha-dev"))


def test_changes_to_two_members_of_one_team_from_stale_rows_both_hold(db):
    """Each member change re-reads its Team's spec: a change made from a row loaded before
    another member's change does not undo it."""
    apply_text(
        "apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {name: stale}\n"
        "spec: {leader: {name: s-lead, model: q}, workers: [{name: s-one, model: q}, {name: s-two, model: q}]}\n"
    )
    one, two = Worker.objects.get(name="s-one"), Worker.objects.get(name="s-two")
    assert one.team.spec == two.team.spec  # both rows now hold the team as it was
    set_desired_state(one, "Sleeping")
    set_desired_state(two, "Sleeping")
    assert dict(Worker.objects.filter(team__name="stale").values_list("name", "state")) == {
        "s-lead": "Running",
        "s-one": "Sleeping",
        "s-two": "Sleeping",
    }
