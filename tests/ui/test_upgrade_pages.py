"""The Upgrades page, the team page's versions and the image rollout actions, as rendered.

Upgrade rows are made and advanced directly (tests/upgrade_rows.py): carrying pushes and
rollouts out is tested with the services that do it."""

from __future__ import annotations

import re

import pytest

from controller.models import Team, Worker
from tests.upgrade_rows import advance, push, rollout

pytestmark = pytest.mark.django_db


def upgrade_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tbody data-upgrade="(\d+)"', html)]


@pytest.fixture
def upgrades(world):
    team_a = rollout("team-a", ["a-dev", "a-qa", "a-lead"], max_unavailable=2)
    advance(team_a.pk, "a-dev", "done")
    advance(team_a.pk, "a-qa", "failed", "image pull failed: manifest unknown")
    team_b = push("team", "team-b", "team-b", ["b-dev"], version="2026.12.9")
    return {"a": team_a.pk, "b": team_b.pk}


def test_upgrades_page_shows_only_the_logins_upgrades(login_client, upgrades):
    assert upgrade_ids(login_client("alice").get("/upgrades/").content.decode()) == [upgrades["a"]]
    assert upgrade_ids(login_client("bob").get("/upgrades/").content.decode()) == [upgrades["b"]]
    assert upgrade_ids(login_client("root").get("/upgrades/").content.decode()) == [upgrades["b"], upgrades["a"]]
    assert upgrade_ids(login_client("carol").get("/upgrades/").content.decode()) == []


def test_upgrades_page_shows_progress_failures_and_each_target(login_client, upgrades):
    html = login_client("alice").get("/upgrades/").content.decode()
    assert 'data-live="/ws/upgrades/"' in html
    assert re.search(r'<progress data-u="bar" max="3" value="1" aria-label="Progress of upgrade \d+"', html)
    assert "1/3 done" in html and "1 failed" in html
    assert "hiclaw/worker-agent:1.5.0" in html and "(at most 2 down)" in html
    assert "image pull failed: manifest unknown" in html
    assert re.search(r'data-target="a-qa">.*?data-value="failed"', html, re.S)
    assert re.search(r'data-target="a-lead">.*?data-value="pending"', html, re.S)


def test_upgrades_page_counts_the_visible_workers_needing_an_upgrade(login_client, world):
    for name in ("a-dev", "b-dev"):
        worker = Worker.objects.get(name=name)
        worker.set_condition("UpgradeRequired", "True", "RuntimeTooOld", "runtime 0.1 older than 0.2")
        worker.save()
    alice = login_client("alice").get("/upgrades/").content.decode()
    assert 'data-upgrade-required="1"' in alice and "1 worker needs an upgrade" in alice and "a-dev" in alice
    assert "b-dev" not in alice
    assert 'data-upgrade-required="2"' in login_client("root").get("/upgrades/").content.decode()
    assert "No worker reports that it needs an upgrade." in login_client("carol").get("/upgrades/").content.decode()


def members(html: str) -> dict[str, str]:
    """Each row of the team page's versions table, by member, as its text."""
    rows = re.findall(r'<tr data-member="([^"]+)"[^>]*>(.*?)</tr>', html, re.S)
    return {name: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for name, row in rows}


def test_team_page_marks_members_behind_in_words(login_client, world):
    Worker.objects.filter(name="a-dev").update(running_image="hiclaw/worker-agent:1.3.0")
    Worker.objects.filter(name="a-qa").update(skills_version="2026.12.0", runtime_version="reference-0.2.0")
    lead = Worker.objects.get(name="a-lead")
    lead.set_condition("UpgradeRequired", "True", "RuntimeTooOld", "runtime 0.1 older than 0.2")
    lead.save()
    rows = members(login_client("alice").get("/teams/team-a/").content.decode())
    assert set(rows) == {"a-lead", "a-dev", "a-qa", "a-ops"}
    assert "runs hiclaw/worker-agent:1.3.0, should run hiclaw/worker-agent:1.4.0" in rows["a-dev"]
    # a-qa reports the newest skills, so the others are behind it.
    assert "skills 2026.11.1, team at 2026.12.0" in rows["a-ops"]
    assert "behind" not in rows["a-qa"] and "up to date" in rows["a-qa"] and "reference-0.2.0" in rows["a-qa"]
    assert "upgrade required: runtime 0.1 older than 0.2" in rows["a-lead"]


def test_the_latest_push_sets_the_skills_version_members_should_have(login_client, world):
    done = push("team", "team-a", "team-a", ["a-dev"], version="2026.12.4")
    advance(done.pk, "a-dev", "done")
    rows = members(login_client("alice").get("/teams/team-a/").content.decode())
    assert all("skills 2026.11.1, team at 2026.12.4" in row for row in rows.values())


def test_team_rollout_confirmation_says_what_restarts(login_client, world):
    page = login_client("alice").post("/teams/team-a/image/", {"image": "hiclaw/worker-agent:1.5.0"})
    html = page.content.decode()
    assert page.status_code == 200 and "Roll out hiclaw/worker-agent:1.5.0 to team team-a?" in html
    assert "4 members restart on it one at a time" in html and "workers first, the leader last" in html
    assert Team.objects.get(name="team-a").image == "hiclaw/worker-agent:1.4.0"  # nothing yet


def test_team_rollout_changes_the_team_image(login_client, world):
    answer = login_client("root").post(
        "/teams/team-a/image/",
        {"image": "hiclaw/worker-agent:1.5.0", "confirmed": "1"},
        HTTP_ACCEPT="application/json",
    )
    assert answer.status_code == 200 and answer.json()["ok"], answer.content
    assert "restart on it one at a time" in answer.json()["message"]
    assert Team.objects.get(name="team-a").image == "hiclaw/worker-agent:1.5.0"
    assert Worker.objects.get(name="a-dev").image == "hiclaw/worker-agent:1.5.0"
    again = login_client("root").post(
        "/teams/team-a/image/",
        {"image": "hiclaw/worker-agent:1.5.0", "confirmed": "1"},
        HTTP_ACCEPT="application/json",
    )
    assert again.json() == {
        "ok": True,
        "message": "team team-a: the image is already hiclaw/worker-agent:1.5.0; nothing restarts.",
    }


def test_only_admins_get_the_team_rollout_form(login_client, world):
    assert 'action="/teams/team-a/image/"' in login_client("root").get("/teams/team-a/").content.decode()
    alice = login_client("alice").get("/teams/team-a/").content.decode()
    assert 'action="/teams/team-a/image/"' not in alice and "An admin or the manager rolls out" in alice


@pytest.mark.parametrize(
    ("login", "image", "status", "field"),
    [
        ("root", "Not An Image!", 400, "image"),
        ("alice", "hiclaw/worker-agent:1.5.0", 403, ""),  # the policy: team specs are an admin's
        ("bob", "hiclaw/worker-agent:1.5.0", 404, ""),
    ],
)
def test_team_rollout_refusals(login_client, world, login, image, status, field):
    answer = login_client(login).post(
        "/teams/team-a/image/", {"image": image, "confirmed": "1"}, HTTP_ACCEPT="application/json"
    )
    assert answer.status_code == status
    if field:
        assert answer.json()["field"] == field
    assert Team.objects.get(name="team-a").image == "hiclaw/worker-agent:1.4.0"


def test_upgrades_page_costs_the_same_with_2_or_40_upgrades(login_client, upgrades):
    from tests.ui.test_query_counts import queries_for

    client = login_client("alice")
    few = queries_for(client, "/upgrades/")
    for _ in range(38):
        rollout("team-a", ["a-dev", "a-qa", "a-ops", "a-lead"])
    assert few == queries_for(client, "/upgrades/")


def test_worker_rollout_confirmation_says_only_this_worker_restarts(login_client, world):
    page = login_client("alice").post("/workers/a-dev/image/", {"image": "hiclaw/worker-agent:1.5.0"})
    html = page.content.decode()
    assert page.status_code == 200 and "Roll out image: a-dev" in html
    assert "This worker restarts on it (its workspace is kept); no other worker does." in html
    assert Worker.objects.get(name="a-dev").image == "hiclaw/worker-agent:1.4.0"  # nothing yet
