"""The dashboard's "Push config/skills" buttons: confirmed POSTs to ``operations.request_push``,
through the same policy as ``hiclaw config push``."""

from __future__ import annotations

import pytest

from controller.models import AuditRecord, Upgrade, Worker

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def test_a_push_to_the_team_asks_first_then_queues_one_upgrade(login_client):
    client = login_client("alice")
    page = client.post("/teams/team-a/push/")
    assert page.status_code == 200 and "nothing restarts" in page.content.decode()
    assert not Upgrade.objects.exists()  # not confirmed: nothing recorded

    answer = client.post("/teams/team-a/push/", {"confirmed": "1"}, **JSON)
    assert answer.status_code == 200 and answer.json()["ok"], answer.content
    push = Upgrade.objects.get()
    assert (push.kind, push.scope, push.target, push.requested_by) == ("push", "team", "team-a", "team-admin:alice")
    assert f"push #{push.pk} to 4 workers queued; nothing restarts" in answer.json()["message"]
    assert AuditRecord.objects.filter(action="config-push", actor="alice").exists()


def test_a_push_to_one_worker(login_client):
    answer = login_client("alice").post("/workers/a-dev/push/", {"confirmed": "1"}, **JSON)
    assert answer.json()["ok"] and "nothing restarts" in answer.json()["message"]
    assert list(Upgrade.objects.get().targets.values_list("worker", flat=True)) == ["a-dev"]


def test_a_team_outside_the_logins_teams_is_not_found(login_client):
    assert login_client("alice").post("/teams/team-b/push/", {"confirmed": "1"}, **JSON).status_code == 404
    assert login_client("alice").post("/workers/b-dev/push/", {"confirmed": "1"}, **JSON).status_code == 404
    assert not Upgrade.objects.exists()


def test_the_worker_page_shows_the_version_last_pushed(login_client):
    Worker.objects.filter(name="a-dev").update(pushed_skills_version="c-0123456789ab")
    html = login_client("alice").get("/workers/a-dev/").content.decode()
    assert "Skills pushed" in html and "c-0123456789ab" in html
