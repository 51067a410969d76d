"""Dashboard pages: who sees what (the policy's scoping), and what each page shows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from controller import policy
from controller.models import AuditRecord, DebugWorker, Event, Heartbeat, Team, Worker
from controller.services import operations
from controller.services.apply import apply_text

pytestmark = pytest.mark.django_db


def team_names(html: str) -> set[str]:
    return set(re.findall(r'data-team="([^"]+)"', html))


def worker_names(html: str) -> list[str]:
    return re.findall(r'<tr data-worker="([^"]+)"', html)


def test_team_admin_linked_to_a_human_sees_only_their_team(login_client):
    page = login_client("alice").get("/")
    assert page.status_code == 200
    assert team_names(page.content.decode()) == {"team-a"}


def test_team_admin_named_in_the_team_spec_sees_only_that_team(login_client):
    assert team_names(login_client("bob").get("/").content.decode()) == {"team-b"}


def test_admin_sees_every_team(login_client):
    html = login_client("root").get("/").content.decode()
    assert team_names(html) == {"team-a", "team-b"}
    assert "standalone" in html


def test_login_without_a_role_is_told_why_and_sees_nothing(login_client):
    page = login_client("carol").get("/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "You have no teams" in html
    assert "Human of permission level 2" in html and "spec.admin.name" in html
    assert team_names(html) == set()
    assert login_client("carol").get("/workers/").content.decode().count("<tr data-worker") == 0


def test_anonymous_visitor_is_sent_to_the_login_page(client, world):
    for url in ("/", "/teams/team-a/", "/workers/a-dev/", "/upgrades/", "/debug/"):
        page = client.get(url)
        assert page.status_code == 302
        assert page["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    ("login", "url"),
    [
        ("alice", "/teams/team-b/"),
        ("alice", "/workers/b-dev/"),
        ("alice", "/workers/solo/"),
        ("bob", "/teams/team-a/"),
        ("bob", "/workers/a-dev/"),
        ("carol", "/teams/team-a/"),
        ("carol", "/workers/a-lead/"),
    ],
)
def test_pages_outside_the_logins_teams_are_not_found(login_client, login, url):
    page = login_client(login).get(url)
    assert page.status_code == 404
    assert "nothing here that you may see" in page.content.decode()


def test_team_page_lists_the_leader_and_the_teams_workers(login_client):
    html = login_client("alice").get("/teams/team-a/").content.decode()
    assert worker_names(html) == ["a-lead", "a-dev", "a-ops", "a-qa"]  # the leader, then workers by name
    assert "Builds and ships the storefront." in html
    assert 'data-field="workers">3/3<' in html  # all three running
    assert 'data-field="unhealthy">1<' in html  # a-ops missed its heartbeats
    assert 'data-field="health" data-format="health" data-value="bad"' in html
    assert "matrix.to/#/!team:example.org" in html
    assert 'action="/teams/team-a/push/"' in html


def test_team_page_sorts_and_pages_its_workers(login_client):
    client = login_client("alice")
    assert worker_names(client.get("/teams/team-a/?sort=-name").content.decode())[1:] == ["a-qa", "a-ops", "a-dev"]
    html = client.get("/teams/team-a/?sort=idle").content.decode()
    assert worker_names(html)[1] == "a-qa" and 'aria-sort="ascending"' in html
    # An unknown sort key falls back to the name.
    assert worker_names(client.get("/teams/team-a/?sort=password").content.decode())[1:] == ["a-dev", "a-ops", "a-qa"]


def test_long_worker_lists_are_paginated(login_client):
    Worker.objects.bulk_create(
        Worker(name=f"w-{index:03}", spec={"model": "qwen"}, model="qwen") for index in range(60)
    )
    client = login_client("root")
    first = client.get("/workers/").content.decode()
    assert len(worker_names(first)) == 50 and "Page 1 of 2" in first
    second = client.get("/workers/?page=2").content.decode()
    assert len(worker_names(second)) == 67 - 50  # 60, solo, and six team members
    assert worker_names(client.get("/workers/?team=-&sort=-name").content.decode())[0] == "w-059"


def test_worker_page_shows_spec_conditions_heartbeats_events_and_files(login_client):
    worker = Worker.objects.get(name="a-dev")
    worker.record_heartbeat("busy", active_tasks=2, runtime_version="0.9.1", skills_version="2026.11.1")
    worker.conditions = [
        {"type": "StorageReady", "status": "False", "reason": "Unreachable", "message": "minio timed out"},
    ]
    worker.save(update_fields=["conditions"])
    AuditRecord.objects.create(
        actor="alice", identity="team-admin", action="state:Sleeping", target_kind="Worker", target_name="a-dev"
    )
    html = login_client("alice").get("/workers/a-dev/").content.decode()
    assert "Unreachable" in html and "minio timed out" in html
    assert "HeartbeatReceived" in html  # the Healthy condition
    assert 'class="busy"' in html and "1 heartbeat from" in html
    assert "state:Sleeping" in html
    assert "No files in storage yet." in html or "Storage did not answer" not in html
    assert "kind: Worker" in html  # the manifest
    assert "<option selected>qwen</option><option>claude</option>" in html  # a choice among the allowed models


def test_worker_page_shows_restarts_last_exit_and_instance_events_among_the_audit_records(login_client):
    now = timezone.now()
    Worker.objects.filter(name="a-dev").update(
        restart_count=3, crash_streak=2, last_exit_code=137, last_exit_reason="exited with code 137 (killed by SIGKILL)"
    )
    AuditRecord.objects.create(
        at=now - timedelta(minutes=5),
        actor="alice",
        identity="team-admin",
        action="state:Running",
        target_kind="Worker",
        target_name="a-dev",
    )
    Event.objects.create(
        at=now - timedelta(minutes=1),
        kind="Worker",
        name="a-dev",
        type="Warning",
        reason="Crashed",
        message="instance hiclaw-worker-a-dev exited with code 137 (killed by SIGKILL) after 3.0 s",
        exit_code=137,
    )
    Event.objects.create(kind="Worker", name="a-qa", reason="Crashed", message="another worker's")
    html = login_client("alice").get("/workers/a-dev/").content.decode()
    assert "<dt>Restarts</dt><dd>3" in html and "2 crashes in a row" in html
    assert "code 137: exited with code 137 (killed by SIGKILL)" in html
    # Newest first: the crash, then the earlier action; no other worker's events.
    assert html.index("<strong>Crashed</strong>") < html.index("<strong>state:Running</strong>")
    assert 'class="warn"' in html and "another worker" not in html


def test_worker_chart_reads_a_bounded_number_of_heartbeats(login_client):
    worker = Worker.objects.get(name="a-dev")
    Heartbeat.objects.bulk_create(Heartbeat(worker=worker, state="idle") for _ in range(150))
    html = login_client("alice").get("/workers/a-dev/").content.decode()
    assert html.count("<rect ") == 60


def test_team_admins_see_their_teams_humans_read_only_and_no_managers(login_client):
    apply_text(
        "apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: default}\nspec: {model: claude}\n---\n"
        "apiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: bert}\n"
        "spec: {displayName: Bert, permissionLevel: 2, accessibleTeams: [team-b]}\n"
    )
    humans = login_client("alice").get("/humans/").content.decode()
    assert "<td>alice</td>" in humans and "<td>bert</td>" not in humans
    assert "None visible to you" in login_client("alice").get("/managers/").content.decode()
    root = login_client("root")
    assert "<td>alice</td>" in root.get("/humans/").content.decode()
    assert '<a href="/managers/default/">default</a>' in root.get("/managers/").content.decode()


def test_upgrades_page_shows_pushes_to_the_logins_teams_only(login_client):
    root = policy.Principal(policy.ADMIN, "root")
    operations.request_push(root, team="team-a")
    operations.request_push(root, team="team-b")
    operations.request_push(root, worker="a-ops")
    alice = login_client("alice").get("/upgrades/").content.decode()
    assert "team team-a" in alice and "worker a-ops" in alice and "team-b" not in alice
    assert "team team-b" in login_client("root").get("/upgrades/").content.decode()


@pytest.mark.parametrize("url", ["/teams/team-a/", "/workers/a-dev/"])
def test_push_buttons_say_what_happens_to_a_push_in_their_own_words(login_client, url):
    html = login_client("alice").get(url).content.decode()
    assert "Push config/skills" in html and "nothing restarts" in html and "push-note" not in html
    assert "DESIGN" not in html and "§" not in html  # no pointer to a document the reader cannot open


def test_debugworker_pages_follow_the_team(login_client):
    apply_text(
        "apiVersion: hiclaw.io/v1beta1\nkind: DebugWorker\nmetadata: {name: a-debug}\n"
        "spec: {target: {type: team, name: team-a}}\n"
    )
    assert DebugWorker.objects.get(name="a-debug").team_name == "team-a"
    assert login_client("alice").get("/debug/a-debug/").status_code == 200
    assert "a-debug" in login_client("alice").get("/debug/").content.decode()
    assert "a-debug" in login_client("alice").get("/teams/team-a/").content.decode()
    assert login_client("bob").get("/debug/a-debug/").status_code == 404
    assert "a-debug" not in login_client("bob").get("/debug/").content.decode()


def test_switched_off_services_read_disabled_not_false(login_client, settings):
    settings.HICLAW_MATRIX_URL = ""
    Worker.objects.filter(name="a-dev").update(
        conditions=[
            {"type": "MatrixReady", "status": "False", "reason": "Disabled", "message": "HICLAW_MATRIX_URL is not set"},
            {"type": "InstanceReady", "status": "False", "reason": "NotRunning", "message": "instance is Stopped"},
        ]
    )
    Team.objects.filter(name="team-a").update(team_room_id="")
    root = login_client("root")
    worker = root.get("/workers/a-dev/").content.decode()
    assert 'data-value="Disabled"' in worker and worker.count('data-value="False"') == 1  # only the real failure
    team = root.get("/teams/team-a/").content.decode()
    assert "no team room: Matrix is not configured" in team and "not created yet" not in team


def test_overview_counts_agree_and_times_carry_their_zone(login_client):
    # The leader idles too: Idle counts workers only, like Ready / workers.
    Worker.objects.filter(name="a-lead").update(idle_since=timezone.now())
    root = login_client("root")
    overview = root.get("/").content.decode()
    row = re.search(r'<tr data-team="team-a".*?</tr>', overview, re.S).group(0)
    assert re.search(r'data-field="idle">1<', row)
    Heartbeat.objects.create(worker=Worker.objects.get(name="a-dev"), state="idle")
    worker = root.get("/workers/a-dev/").content.decode()
    assert re.search(r"\d\d:\d\d:\d\d UTC</td>", worker)
    assert "Skills version" in root.get("/workers/").content.decode()


def test_a_members_page_says_its_fields_belong_to_the_team_and_offers_the_allowed_models(login_client):
    page = login_client("alice").get("/workers/a-dev/").content.decode()
    assert "a-dev is a member of team team-a: its image and model live in the Team's spec" in page
    assert '<select name="model" id="id_model"' in page
    assert "<option selected>qwen</option><option>claude</option>" in page
    solo = login_client("root").get("/workers/solo/").content.decode()
    assert "data-owned-by-team" not in solo and '<input type="text" name="model"' in solo
