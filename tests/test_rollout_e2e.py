"""Image rollouts on real services: Docker, Synapse, S3 on moto (the gateway is the stand-in).

The test image is busybox: it cannot run the reference worker, so nothing in
its containers reports. "The new instance reports" is therefore played by the
test: it reads the token the controller gave the new container (its
``HICLAW_AGENT_TOKEN`` through the Docker API) and posts a heartbeat through
the API with it, which is exactly what the instance's agent does first. The
save-state acknowledgement cannot come either, so the save timeout is 0 s:
the notice is still sent to Synapse and checked. Versions v1 and v2 are the
test image tagged twice locally.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from controller.agent import notices
from controller.models import RolloutStep, Upgrade, UpgradeTarget, Worker
from controller.services.apply import apply_text
from tests.rollout_helpers import bring_up, report, step, team_yaml, the_rollout

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def images(docker_service) -> tuple[str, str]:
    image = docker_service.client.images.get(docker_service.image)
    repository = docker_service.image.split(":")[0]
    for tag in ("rollout-v1", "rollout-v2"):
        image.tag(repository, tag)
    return f"{repository}:rollout-v1", f"{repository}:rollout-v2"


@pytest.fixture(autouse=True)
def quick_rollouts(settings):
    settings.HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS = 0
    settings.HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS = 60


def container_token(docker_service, name: str) -> str:
    env = docker_service.client.containers.get(name).attrs["Config"]["Env"]
    return next(line.split("=", 1)[1] for line in env if line.startswith("HICLAW_AGENT_TOKEN="))


class Watcher(threading.Thread):
    """Polls the team's containers through the Docker API while the rollout runs: per member,
    how many run at once, and whether any member ever had none running."""

    def __init__(self, docker_service, team: str):
        super().__init__(daemon=True)
        self.client, self.team = docker_service.client, team
        self.stop, self.most_doubled, self.down = threading.Event(), 0, []

    def run(self) -> None:
        while not self.stop.is_set():
            running: dict[str, int] = {}
            for container in self.client.containers.list(filters={"label": f"hiclaw.io/team={self.team}"}):
                name = container.labels["hiclaw.io/name"]
                running[name] = running.get(name, 0) + 1
            self.most_doubled = max(self.most_doubled, sum(count > 1 for count in running.values()))
            self.down += [m for m in self.members if running.get(m, 0) == 0]
            time.sleep(0.05)

    members: list[str] = []


def test_a_team_rolls_one_member_at_a_time_leader_last(real_driver, docker_service, images):
    v1, v2 = images
    team = f"r{uuid.uuid4().hex[:6]}"
    apply_text(team_yaml(team, ["a", "b", "c"], v1))
    bring_up(real_driver, team)
    apply_text(team_yaml(team, ["a", "b", "c"], v2))
    bring_up(real_driver, team)
    upgrade = the_rollout()
    members = [f"{team}-{w}" for w in ("a", "b", "c", "lead")]
    assert list(upgrade.targets.values_list("worker", flat=True)) == members

    watcher = Watcher(docker_service, team)
    watcher.members = members
    watcher.start()
    started: list[str] = []
    try:
        for _ in range(200):
            for target in UpgradeTarget.objects.filter(upgrade=upgrade, state="running"):
                if target.worker not in started:
                    started.append(target.worker)
                if target.step == RolloutStep.STARTING:
                    report(container_token(docker_service, target.new_instance))
            if step(real_driver, upgrade.pk) is None:
                break
            time.sleep(0.2)
    finally:
        watcher.stop.set()
        watcher.join()

    upgrade.refresh_from_db()
    assert (upgrade.state, upgrade.progress()) == ("Done", (4, 4))
    assert started == members  # workers by name, the leader last
    assert watcher.most_doubled == 1 and watcher.down == []  # one at a time, never a member down
    containers = docker_service.client.containers.list(all=True, filters={"label": f"hiclaw.io/team={team}"})
    # One container per member, the new one (v1 and v2 are one image ID: the name tells them apart).
    assert sorted(c.labels["hiclaw.io/name"] for c in containers) == members
    assert sorted(c.name for c in containers) == sorted(
        w.current_instance for w in Worker.objects.filter(team__name=team)
    )
    assert all(c.attrs["Config"]["Image"] == v2 and c.status == "running" for c in containers)
    assert {w.running_image for w in Worker.objects.filter(team__name=team)} == {v2}

    # Each member was asked in its Matrix room to save its state (Synapse kept the notice).
    worker = Worker.objects.get(name=f"{team}-a")
    matrix, admin = real_driver.connections.matrix, real_driver.connections.matrix_admin()
    found = [e["content"] for e in matrix.messages(admin, worker.room_id) if notices.NOTICE_KEY in e.get("content", {})]
    assert found and found[-1][notices.NOTICE_KEY]["kind"] == "save-state"
    # …and one its agent reads as a notice addressed to it (the marker starts the body).
    notice = notices.parse_notice(found[-1])
    assert notice is not None and notice.addresses(worker.matrix_user_id)
    assert worker.matrix_user_id in found[-1]["body"]


def test_a_new_image_that_never_reports_stops_the_rollout_and_keeps_the_old_container(
    real_driver, docker_service, images, settings
):
    settings.HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS = 3
    v1, v2 = images
    team = f"f{uuid.uuid4().hex[:6]}"
    apply_text(team_yaml(team, ["a", "b"], v1))
    bring_up(real_driver, team)
    apply_text(team_yaml(team, ["a", "b"], v2))
    bring_up(real_driver, team)
    upgrade = the_rollout()
    deadline = time.monotonic() + 30
    while step(real_driver, upgrade.pk) is not None:
        assert time.monotonic() < deadline, "the rollout did not give up"
        time.sleep(0.5)

    upgrade.refresh_from_db()
    assert upgrade.state == "Failed" and f"stopped at {team}-a" in upgrade.message
    assert "did not report within 3 s" in upgrade.message
    states = dict(upgrade.targets.values_list("worker", "state"))
    assert states == {f"{team}-a": "failed", f"{team}-b": "pending", f"{team}-lead": "pending"}
    containers = docker_service.client.containers.list(all=True, filters={"label": f"hiclaw.io/team={team}"})
    assert sorted(c.name for c in containers) == sorted(
        w.current_instance for w in Worker.objects.filter(team__name=team)
    )
    assert all(c.attrs["Config"]["Image"] == v1 and c.status == "running" for c in containers)
    row = Worker.objects.get(name=f"{team}-a")
    assert row.phase == "Running" and any(c["reason"] == "RolloutFailed" for c in row.conditions)
    assert Upgrade.objects.filter(kind="rollout", team=team).count() == 1
