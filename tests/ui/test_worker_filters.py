"""The worker list's filters: name search, and team, phase and heartbeat health, all
case-insensitive, and never wider than what the login may see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controller.models import Worker
from tests.ui.test_pages import worker_names

pytestmark = pytest.mark.django_db


def shown(client, query: str) -> set[str]:
    return set(worker_names(client.get(f"/workers/?{query}").content.decode()))


def test_name_search_and_team_are_case_insensitive(login_client):
    root = login_client("root")
    assert shown(root, "q=DEV") == {"a-dev", "b-dev"}
    assert shown(root, "team=TEAM-A") == {"a-lead", "a-dev", "a-qa", "a-ops"}
    assert shown(root, "team=team-a&q=q") == {"a-qa"}
    assert shown(root, "team=-") == {"solo"}


def test_phase_is_filtered_case_insensitively_and_an_unknown_one_matches_nothing(login_client):
    Worker.objects.filter(name="a-qa").update(phase="Sleeping")
    root = login_client("root")
    assert shown(root, "phase=sleeping") == {"a-qa"}
    assert "a-qa" not in shown(root, "phase=RUNNING")
    assert shown(root, "phase=asleep") == set()


def test_health_follows_the_agents_interval(login_client, settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    now = timezone.now()
    Worker.objects.update(last_heartbeat=now, instance_started_at=now - timedelta(hours=1))
    Worker.objects.filter(name="a-dev").update(last_heartbeat=now - timedelta(seconds=60))  # late: > 45 s
    Worker.objects.filter(name="a-ops").update(heartbeat_missed_since=now - timedelta(minutes=9))
    Worker.objects.filter(name="b-dev").update(last_heartbeat=now - timedelta(seconds=200))  # missed: > 90 s
    root = login_client("root")
    assert shown(root, "health=late") == {"a-dev"}
    assert shown(root, "health=Missed") == {"a-ops", "b-dev"}
    assert "a-dev" not in shown(root, "health=ok") and "a-qa" in shown(root, "health=ok")
    assert shown(root, "health=dying") == set()


def test_filters_never_widen_a_team_admins_view(login_client):
    alice = login_client("alice")  # team admin of team-a
    assert shown(alice, "team=team-b") == set()
    assert shown(alice, "q=dev") == {"a-dev"}


def test_the_form_keeps_the_filters_it_was_given(login_client):
    page = login_client("root").get("/workers/?q=dev&phase=running&health=late").content.decode()
    assert 'name="q" value="dev"' in page
    assert "<option selected>Running</option>" in page and "<option selected>late</option>" in page
