"""Image rollouts in embedded mode: the state machine of controller/reconcilers/rollout.py.

Process backend and file storage (no Matrix: the save-state notice is skipped,
the signal file is written). The reference workers these tests start cannot
reach a controller, so "the new instance reports" is played by the test: it
posts a heartbeat through the API with the token the backend gave that
instance (read from its instance record), as the instance's agent would.
Rollouts are stepped by calling what the Celery task calls, one look at a time.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from controller import policy
from controller.models import AgentToken, RolloutStep, TargetState, Upgrade, UpgradeTarget, Worker
from controller.reconcilers import rollout
from controller.services import rollouts
from controller.services.apply import apply_text
from tests.rollout_helpers import bring_up, report, step, team_yaml, the_rollout

pytestmark = pytest.mark.django_db

V1, V2 = "registry.test/agent:v1", "registry.test/agent:v2"


@pytest.fixture(autouse=True)
def quick_rollouts(settings):
    settings.HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS = 0
    settings.HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS = 300


def token_of(backend, instance: str) -> str:
    record = json.loads((backend.state_dir / instance / "instance.json").read_text())
    return record["spec"]["env"]["HICLAW_AGENT_TOKEN"]


def instances(backend, team: str) -> dict[str, list[str]]:
    """Instances of the team's members by member."""
    found: dict[str, list[str]] = {}
    for info in backend.list():
        if info.team == team:
            found.setdefault(info.resource, []).append(info.name)
    return found


def roll_out(driver, upgrade_id: int, *, on_step=None, looks: int = 200) -> None:
    """Step the rollout to its end, reporting for every new instance that runs."""
    backend = driver.connections.backend
    for _ in range(looks):
        if on_step is not None:
            on_step()
        for target in UpgradeTarget.objects.filter(upgrade_id=upgrade_id, step=RolloutStep.STARTING, state="running"):
            if backend.status(target.new_instance).running:
                report(token_of(backend, target.new_instance))
        if step(driver, upgrade_id) is None:
            return
    pytest.fail("the rollout did not finish")


@pytest.mark.parametrize(
    "max_unavailable",
    [
        1,
        2,
        # Outside a transaction, as in a Celery task, targets in progress are stepped side by
        # side on threads of their own (rollout._step_all): the same limits must hold.
        pytest.param(2, id="2-side-by-side", marks=pytest.mark.django_db(transaction=True)),
    ],
)
def test_team_rolls_workers_first_then_the_leader_within_max_unavailable(embedded_driver, max_unavailable):
    if not connection.in_atomic_block and connection.vendor == "sqlite" and connection.is_in_memory_db():
        # The fast tier's in-memory SQLite is one shared-cache database: two threads writing
        # at once get "database table is locked" at once, with no busy timeout to wait on.
        # The embedded database is a file in WAL mode, and the full tier runs this on PostgreSQL.
        pytest.skip("threads writing to the tests' shared-cache in-memory SQLite lock each other out")
    backend = embedded_driver.connections.backend
    apply_text(team_yaml("ro", ["a", "b", "c"], V1, max_unavailable=max_unavailable))
    bring_up(embedded_driver, "ro")
    old_tokens = set(AgentToken.objects.active().values_list("pk", flat=True))
    apply_text(team_yaml("ro", ["a", "b", "c"], V2, max_unavailable=max_unavailable))
    bring_up(embedded_driver, "ro")

    # Nothing replaced yet: every member runs v1 and is Updating; one team rollout covers them.
    upgrade = the_rollout()
    assert (upgrade.scope, upgrade.target, upgrade.image, upgrade.max_unavailable) == (
        "team",
        "ro",
        V2,
        max_unavailable,
    )
    targets = list(upgrade.targets.values_list("worker", "from_image"))
    assert targets == [("ro-a", V1), ("ro-b", V1), ("ro-c", V1), ("ro-lead", V1)]
    assert set(Worker.objects.filter(team__name="ro").values_list("phase", flat=True)) == {"Updating"}
    assert all(len(names) == 1 for names in instances(backend, "ro").values())

    seen: list[set[str]] = []

    def watch() -> None:
        in_progress = set(
            UpgradeTarget.objects.filter(upgrade=upgrade, state="running").values_list("worker", flat=True)
        )
        seen.append(in_progress)
        assert len(in_progress) <= max_unavailable
        if "ro-lead" in in_progress:  # the leader goes last, alone
            assert in_progress == {"ro-lead"}
            assert set(upgrade.targets.exclude(worker="ro-lead").values_list("state", flat=True)) == {"done"}

    roll_out(embedded_driver, upgrade.pk, on_step=watch)
    assert max(len(s) for s in seen) == max_unavailable
    upgrade.refresh_from_db()
    assert (upgrade.state, upgrade.progress()) == ("Done", (4, 4))
    members = Worker.objects.filter(team__name="ro")
    assert {(m.running_image, m.phase) for m in members} == {(V2, "Running")}
    # One instance per member, the new one, named apart from the default; old tokens revoked.
    found = instances(backend, "ro")
    assert all(names == [m.current_instance] and m.instance_name for m in members for names in [found[m.name]])
    assert not old_tokens & set(AgentToken.objects.active().values_list("pk", flat=True))
    assert all(backend.status(m.current_instance).image == V2 for m in members)

    # Converged: another pass over each member starts nothing.
    bring_up(embedded_driver, "ro")
    assert Upgrade.objects.filter(kind="rollout").count() == 1


def test_the_worker_is_asked_to_save_state_and_its_acknowledgement_is_awaited(embedded_driver, settings):
    settings.HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS = 60
    apply_text(team_yaml("ack", ["a"], V1))
    bring_up(embedded_driver, "ack")
    apply_text(team_yaml("ack", ["a"], V2))
    bring_up(embedded_driver, "ack")
    upgrade = the_rollout()
    step(embedded_driver, upgrade.pk)
    target = upgrade.targets.get(worker="ack-a")
    assert (target.state, target.step) == ("running", "saving")
    notice = f"rollout-{upgrade.pk}-{target.pk}"
    signal = embedded_driver.connections.storage.get("agents/ack-a/.save-state-signal")
    assert json.loads(signal)["id"] == notice

    step(embedded_driver, upgrade.pk)  # no acknowledgement yet: still waiting
    assert upgrade.targets.get(worker="ack-a").step == "saving"
    worker = Worker.objects.get(name="ack-a")
    worker.record_heartbeat("idle", note=f"matrix ok; ack:save-state:{notice}")
    step(embedded_driver, upgrade.pk)
    assert upgrade.targets.get(worker="ack-a").step == "starting"


def test_without_an_acknowledgement_the_save_timeout_moves_on(embedded_driver, settings):
    settings.HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS = 30
    apply_text(team_yaml("nak", ["a"], V1))
    bring_up(embedded_driver, "nak")
    apply_text(team_yaml("nak", ["a"], V2))
    bring_up(embedded_driver, "nak")
    upgrade = the_rollout()
    step(embedded_driver, upgrade.pk)
    assert upgrade.targets.get(worker="nak-a").step == "saving"
    later = timezone.now() + timedelta(seconds=31)
    embedded_driver.connections.clock = lambda: later
    step(embedded_driver, upgrade.pk)
    assert upgrade.targets.get(worker="nak-a").step == "starting"


def test_a_new_instance_that_never_reports_is_dropped_and_the_old_one_kept(embedded_driver, settings):
    settings.HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS = 20
    backend = embedded_driver.connections.backend
    apply_text(team_yaml("bad", ["a", "b"], V1))
    bring_up(embedded_driver, "bad")
    old = {m.name: m.current_instance for m in Worker.objects.filter(team__name="bad")}
    apply_text(team_yaml("bad", ["a", "b"], V2))
    bring_up(embedded_driver, "bad")
    upgrade = the_rollout()
    step(embedded_driver, upgrade.pk)
    target = upgrade.targets.get(worker="bad-a")
    assert target.step == "starting" and backend.status(target.new_instance).running
    later = timezone.now() + timedelta(seconds=21)
    embedded_driver.connections.clock = lambda: later
    assert step(embedded_driver, upgrade.pk) is None

    upgrade.refresh_from_db()
    target.refresh_from_db()
    assert upgrade.state == "Failed" and "did not report within 20 s" in upgrade.message
    assert target.state == "failed" and f"keeps {V1}" in target.message
    assert upgrade.targets.get(worker="bad-b").state == "pending"  # the rollout stopped there
    assert not backend.status(target.new_instance).running and backend.status(old["bad-a"]).running
    assert not AgentToken.objects.active().filter(pk=target.new_token_id).exists()
    worker = Worker.objects.get(name="bad-a")
    assert (worker.phase, worker.running_image, worker.current_instance) == ("Running", V1, old["bad-a"])
    condition = next(c for c in worker.conditions if c["type"] == "ImageCurrent")
    assert (condition["status"], condition["reason"]) == ("False", "RolloutFailed")
    # Later passes keep the old instance and start no rollout again.
    bring_up(embedded_driver, "bad")
    assert Upgrade.objects.filter(kind="rollout").count() == 1
    assert sorted(instances(backend, "bad").values()) == sorted([[name] for name in old.values()])


def test_a_standalone_worker_rolls_and_resumes_after_a_crash_without_duplicates(embedded_driver, settings):
    backend = embedded_driver.connections.backend
    worker_yaml = (
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: solo}\nspec: {model: qwen, image: %s}\n"
    )
    apply_text(worker_yaml % V1)
    embedded_driver.converge(("Worker", "solo"))
    apply_text(worker_yaml % V2)
    embedded_driver.converge(("Worker", "solo"))
    upgrade = the_rollout()
    assert (upgrade.scope, upgrade.target) == ("worker", "solo")
    step(embedded_driver, upgrade.pk)
    target = upgrade.targets.get()
    assert target.step == "starting"
    first_token = target.new_token_id

    # A crash after the token was minted but before the instance was made: the next look
    # makes the instance with a fresh token and revokes the orphaned one.
    backend.delete(target.new_instance)
    step(embedded_driver, upgrade.pk)
    target.refresh_from_db()
    assert target.new_token_id != first_token and not AgentToken.objects.active().filter(pk=first_token).exists()
    # A crash after the instance was made: looks again (a fresh backend object, as after a
    # restart) find it and make no second one; the old instance still runs beside it.
    embedded_driver.connections.backend = type(backend)()
    for _ in range(3):
        step(embedded_driver, upgrade.pk)
    names = sorted(info.name for info in embedded_driver.connections.backend.list() if info.resource == "solo")
    assert names == sorted(["hiclaw-worker-solo", target.new_instance])
    roll_out(embedded_driver, upgrade.pk)
    solo = Worker.objects.get(name="solo")
    assert (solo.running_image, solo.current_instance, solo.phase) == (V2, target.new_instance, "Running")
    assert [i.name for i in backend.list() if i.resource == "solo"] == [target.new_instance]


def test_a_stopped_worker_takes_the_new_image_when_it_starts(embedded_driver):
    worker_yaml = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: nap}\n"
    worker_yaml += "spec: {model: qwen, image: %s, state: %s}\n"
    apply_text(worker_yaml % (V1, "Running"))
    embedded_driver.converge(("Worker", "nap"))
    apply_text(worker_yaml % (V2, "Stopped"))
    embedded_driver.converge(("Worker", "nap"))
    apply_text(worker_yaml % (V2, "Running"))
    embedded_driver.converge(("Worker", "nap"))
    assert not Upgrade.objects.filter(kind="rollout").exists()
    assert Worker.objects.get(name="nap").running_image == V2


ADMIN = policy.Principal("admin", "ops")


def test_pause_resume_and_abort(embedded_driver):
    backend = embedded_driver.connections.backend
    apply_text(team_yaml("pra", ["a", "b", "c"], V1))
    bring_up(embedded_driver, "pra")
    apply_text(team_yaml("pra", ["a", "b", "c"], V2))
    bring_up(embedded_driver, "pra")
    upgrade = the_rollout()
    step(embedded_driver, upgrade.pk)  # pra-a in progress
    rollouts.pause(ADMIN, upgrade.pk)
    roll_out(embedded_driver, upgrade.pk)  # finishes pra-a, starts nothing else
    states = dict(upgrade.targets.values_list("worker", "state"))
    assert states == {"pra-a": "done", "pra-b": "pending", "pra-c": "pending", "pra-lead": "pending"}
    upgrade.refresh_from_db()
    assert upgrade.state == "Paused"
    with pytest.raises(rollouts.RolloutStateConflict):
        rollouts.pause(ADMIN, upgrade.pk)

    rollouts.resume(ADMIN, upgrade.pk)
    step(embedded_driver, upgrade.pk)  # pra-b in progress
    rollouts.abort(ADMIN, upgrade.pk)
    roll_out(embedded_driver, upgrade.pk)  # pra-b finishes its replacement
    upgrade.refresh_from_db()
    states = dict(upgrade.targets.values_list("worker", "state"))
    assert upgrade.state == "Aborted" and "aborted by admin:ops" in upgrade.message
    assert states == {"pra-a": "done", "pra-b": "done", "pra-c": "pending", "pra-lead": "pending"}
    images = dict(Worker.objects.filter(team__name="pra").values_list("name", "running_image"))
    assert images == {"pra-a": V2, "pra-b": V2, "pra-c": V1, "pra-lead": V1}
    assert set(Worker.objects.filter(team__name="pra").values_list("phase", flat=True)) == {"Running"}
    assert all(len(names) == 1 for names in instances(backend, "pra").values())
    bring_up(embedded_driver, "pra")  # an aborted rollout is not started again by itself
    assert Upgrade.objects.filter(kind="rollout").count() == 1
    assert Worker.objects.get(name="pra-c").running_image == V1


def bearer(clear: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


def test_who_may_pause_resume_and_abort(embedded_driver):
    apply_text(team_yaml("own", ["a"], V1))
    apply_text(team_yaml("other", ["a"], V1))
    bring_up(embedded_driver, "own")
    apply_text(team_yaml("own", ["a"], V2))
    bring_up(embedded_driver, "own")
    upgrade = the_rollout()
    url = f"/api/v1/upgrades/{upgrade.pk}"

    other_admin = policy.Principal("team-admin", "eve", teams=frozenset({"other"}))
    with pytest.raises(policy.NotFound):
        rollouts.pause(other_admin, upgrade.pk)
    other_leader = AgentToken.mint("team-leader", "other-lead", team="other")[1]
    assert bearer(other_leader).post(f"{url}/pause").status_code == 404
    member = AgentToken.mint("worker", "own-a", team="own")[1]
    assert bearer(member).post(f"{url}/abort").status_code == 403  # sees its rollout, may not hold it
    outsider = AgentToken.mint("worker", "other-a", team="other")[1]
    assert bearer(outsider).post(f"{url}/abort").status_code == 404
    assert bearer(member).post("/api/v1/upgrades/99999/pause").status_code == 404
    upgrade.refresh_from_db()
    assert upgrade.state == "Pending"

    leader = AgentToken.mint("team-leader", "own-lead", team="own")[1]
    answer = bearer(leader).post(f"{url}/pause")
    assert answer.status_code == 200 and answer.json()["state"] == "Paused"
    assert bearer(leader).post(f"{url}/pause").status_code == 409
    own_admin = policy.Principal("team-admin", "ann", teams=frozenset({"own"}))
    assert rollouts.resume(own_admin, upgrade.pk).state == "Running"
    admin = AgentToken.mint("admin", "ops")[1]
    answer = bearer(admin).post(f"{url}/abort")
    assert answer.status_code == 200 and answer.json()["state"] == "Aborted"
    assert answer.json()["targets"][0]["worker"] == "own-a"
    from controller.models import AuditRecord

    actions = list(AuditRecord.objects.filter(target_kind="Upgrade").values_list("action", flat=True))
    assert sorted(actions) == ["rollout-abort", "rollout-pause", "rollout-resume"]


def test_resync_queues_unfinished_rollouts(embedded_driver):
    apply_text(team_yaml("rs", ["a"], V1))
    bring_up(embedded_driver, "rs")
    apply_text(team_yaml("rs", ["a"], V2))
    bring_up(embedded_driver, "rs")
    upgrade = the_rollout()
    assert rollout.unfinished() == [upgrade.pk]  # never looked at
    step(embedded_driver, upgrade.pk)
    assert rollout.unfinished() == []  # its looks go on: no second chain
    assert rollout.unfinished(timezone.now() + timedelta(seconds=60)) == [upgrade.pk]  # they stopped
    roll_out(embedded_driver, upgrade.pk)
    assert rollout.unfinished(timezone.now() + timedelta(seconds=60)) == []
    assert set(upgrade.targets.values_list("state", flat=True)) == {TargetState.DONE}
