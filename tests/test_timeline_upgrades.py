"""Pushes and rollouts on a worker's timeline: each target's outcome is one Event on that
worker (with its team), however often the push or the rollout is looked at again, and a
worker's phase changes are events once per change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controller.models import Event, Worker
from controller.models.upgrade import TargetState, UpgradeState
from controller.reconcilers import pushes
from controller.services import events, live, operations
from controller.services.apply import apply_text
from tests.rollout_helpers import bring_up, step, team_yaml, the_rollout
from tests.test_rollout import V1, V2, quick_rollouts, roll_out  # noqa: F401 (a fixture, used by name)
from tests.test_skills_push import ADMIN, MEMBERS, TEAM, driver, team  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def upgrade_events(name: str) -> list[tuple[str, str, str]]:
    rows = Event.objects.filter(kind="Worker", name=name).exclude(reason__in=events.PHASE_REASONS)
    return list(rows.order_by("at", "id").values_list("reason", "type", "team"))


def test_each_push_target_is_one_event_on_its_worker_even_when_run_again(driver, team):  # noqa: F811
    push = operations.request_push(ADMIN, team=TEAM)
    # Removed between the request and the push: its target fails, the others are pushed.
    Worker.objects.filter(name=f"{TEAM}-b").update(deletion_requested_at=timezone.now())
    pushes.run(push.pk, driver.connections)
    push.refresh_from_db()
    assert push.state == UpgradeState.FAILED
    # A re-delivered task (Celery acknowledges late) and a re-queued one: nothing is added.
    push.state = UpgradeState.RUNNING
    push.save()
    pushes.run(push.pk, driver.connections)
    pushes.run(push.pk, driver.connections)
    assert upgrade_events(f"{TEAM}-a") == [("ConfigPushed", "Normal", TEAM)]
    assert upgrade_events(f"{TEAM}-lead") == [("ConfigPushed", "Normal", TEAM)]
    assert upgrade_events(f"{TEAM}-b") == [("PushFailed", "Warning", TEAM)]
    pushed = Event.objects.get(name=f"{TEAM}-a", reason="ConfigPushed").message
    assert pushed.startswith(f"push #{push.pk}: skills {push.version}")
    failed = Event.objects.get(name=f"{TEAM}-b", reason="PushFailed").message
    assert failed == f"push #{push.pk}: worker {TEAM}-b no longer exists"


def test_a_redelivered_push_records_only_the_targets_it_settles(driver, team):  # noqa: F811
    push = operations.request_push(ADMIN, team=TEAM)
    # As if a worker crashed mid-push: the first target settled (and recorded) before it.
    push.targets.filter(worker=f"{TEAM}-a").update(state=TargetState.DONE, message="earlier")
    pushes.run(push.pk, driver.connections)
    assert upgrade_events(f"{TEAM}-a") == []
    assert upgrade_events(f"{TEAM}-b") == [("ConfigPushed", "Normal", TEAM)]


def test_a_rollout_records_old_to_new_image_once_per_worker(embedded_driver):
    apply_text(team_yaml("tlr", ["a"], V1))
    bring_up(embedded_driver, "tlr")
    apply_text(team_yaml("tlr", ["a"], V2))
    bring_up(embedded_driver, "tlr")
    upgrade = the_rollout()
    roll_out(embedded_driver, upgrade.pk)
    for _ in range(3):  # looks after the end (the resync, a re-queued task) add nothing
        step(embedded_driver, upgrade.pk)
    for name in ("tlr-a", "tlr-lead"):
        assert upgrade_events(name) == [("RolledOut", "Normal", "tlr")]
        assert Event.objects.get(name=name, reason="RolledOut").message == f"rollout #{upgrade.pk}: {V1} → {V2}"
    # The rollout moved each worker's phase to Updating and back: two phase events, no more.
    phases = Event.objects.filter(name="tlr-a", reason="PhaseChanged").order_by("at", "id")
    assert [e.message for e in phases][-2:] == ["phase Running → Updating", "phase Updating → Running"]


def test_a_failed_rollout_is_a_warning_on_the_worker_it_stopped_at(embedded_driver, settings):
    settings.HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS = 20
    apply_text(team_yaml("tlf", ["a", "b"], V1))
    bring_up(embedded_driver, "tlf")
    apply_text(team_yaml("tlf", ["a", "b"], V2))
    bring_up(embedded_driver, "tlf")
    upgrade = the_rollout()
    step(embedded_driver, upgrade.pk)
    later = timezone.now() + timedelta(seconds=21)
    embedded_driver.connections.clock = lambda: later
    for _ in range(3):
        step(embedded_driver, upgrade.pk)
    assert upgrade_events("tlf-a") == [("RolloutFailed", "Warning", "tlf")]
    message = Event.objects.get(name="tlf-a", reason="RolloutFailed").message
    assert message.startswith(f"rollout #{upgrade.pk}: new instance on {V2} did not report within 20 s")
    assert upgrade_events("tlf-b") == []  # never reached


def test_phase_changes_and_a_wake_are_one_event_each(embedded_driver):
    apply_text(team_yaml("tlp", [], V1))
    bring_up(embedded_driver, "tlp")
    bring_up(embedded_driver, "tlp")  # a pass that changes nothing records nothing
    assert [e.message for e in Event.objects.filter(name="tlp-lead")] == ["phase Pending → Running"]
    team_phases = list(Event.objects.filter(kind="Team", name="tlp").values_list("reason", "team"))
    assert team_phases == [("PhaseChanged", "tlp")]
    leader = Worker.objects.get(name="tlp-lead")
    operations.set_state(ADMIN, leader, "Sleeping")
    bring_up(embedded_driver, "tlp")
    operations.set_state(ADMIN, Worker.objects.get(name="tlp-lead"), "Running")
    bring_up(embedded_driver, "tlp")
    bring_up(embedded_driver, "tlp")
    reasons = list(Event.objects.filter(name="tlp-lead").order_by("at", "id").values_list("reason", "message"))
    assert reasons[-2:] == [("PhaseChanged", "phase Running → Sleeping"), ("Woke", "phase Sleeping → Running")]
    assert len(reasons) == 3


def test_a_settled_push_target_tells_the_pages_showing_its_events(
    driver,  # noqa: F811 (the fixture)
    team,  # noqa: F811 (the fixture)
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    sent: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(live, "_send", lambda groups, message: sent.append((groups, message)))
    push = operations.request_push(ADMIN, worker=f"{TEAM}-a")
    # A target that fails writes nothing to the worker's row: its event alone is the news.
    Worker.objects.filter(name=f"{TEAM}-a").update(deletion_requested_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        pushes.run(push.pk, driver.connections)
    changed = [
        (groups, m) for groups, m in sent if m == {"type": "worker.changed", "worker": f"{TEAM}-a", "team": TEAM}
    ]
    assert changed and f"team-{TEAM}" in changed[0][0] and f"worker-{TEAM}-a" in changed[0][0]
