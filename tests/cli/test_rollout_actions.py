"""``hiclaw upgrades pause|resume|abort ID`` against a live controller.

The rollout record is made directly (what the Worker reconciler makes on an
image change; tests/test_rollout.py covers that): these tests are about the
verbs, their answers and refusals."""

from __future__ import annotations

import json

import pytest

from controller.models import AuditRecord, Upgrade, UpgradeTarget
from tests.cli.conftest import BASE_ENV, failed, ok
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _this_checkout(monkeypatch):
    """The console script runs this checkout's code, whichever checkout the shared virtualenv
    was installed from."""
    monkeypatch.setitem(BASE_ENV, "PYTHONPATH", str(ROOT))


@pytest.fixture
def rollout(world) -> Upgrade:
    upgrade = Upgrade.objects.create(
        kind="rollout", scope="team", target="team-a", team="team-a", requested_by="controller", image="x/agent:v2"
    )
    UpgradeTarget.objects.create(upgrade=upgrade, worker="a-dev", position=0, from_image="x/agent:v1")
    UpgradeTarget.objects.create(upgrade=upgrade, worker="a-lead", position=1, from_image="x/agent:v1")
    return upgrade


def test_a_leader_pauses_resumes_and_aborts_its_teams_rollout(hiclaw, rollout):
    number = str(rollout.pk)
    paused = ok(hiclaw("upgrades", "pause", number, persona="leader-a"))
    assert paused == f"rollout #{number} Paused: 0/2 on x/agent:v2\n"
    assert failed(hiclaw("upgrades", "pause", number, persona="leader-a")).startswith(
        f"error: state: rollout #{number} is Paused; pause applies to Pending or Running rollouts"
    )
    answer = json.loads(ok(hiclaw("upgrades", "resume", number, "-o", "json", persona="leader-a")))
    assert answer["state"] == "Running" and [t["worker"] for t in answer["targets"]] == ["a-dev", "a-lead"]
    assert ok(hiclaw("upgrades", "abort", number)).startswith(f"rollout #{number} Aborted")
    actions = AuditRecord.objects.filter(target_kind="Upgrade", target_name=number).values_list("action", flat=True)
    assert sorted(actions) == ["rollout-abort", "rollout-pause", "rollout-resume"]


def test_another_team_and_a_worker_may_not_hold_it(hiclaw, rollout):
    number = str(rollout.pk)
    assert failed(hiclaw("upgrades", "pause", number, persona="leader-b")) == f"error: id: upgrade/{number} not found"
    assert "may see its rollouts but not hold them" in failed(hiclaw("upgrades", "abort", number, persona="worker-a"))
    rollout.refresh_from_db()
    assert rollout.state == "Pending"
