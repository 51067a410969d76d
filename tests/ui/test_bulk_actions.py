"""Bulk Sleep / Wake / Ensure ready on the worker list: one confirmation, the same policy
as each worker's own button, and never a worker outside the login's scope."""

from __future__ import annotations

import pytest

from controller.models import AuditRecord, Worker
from debugui import bulk

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def states(*names: str) -> dict[str, str]:
    return dict(Worker.objects.filter(name__in=names).values_list("name", "state"))


def test_one_confirmation_puts_every_matching_worker_to_sleep_and_wakes_them(login_client):
    client = login_client("alice")
    answer = client.post("/bulk/workers/sleep/", {"q": "a-", "phase": "running", "confirmed": "1"}, **JSON)
    assert answer.status_code == 200, answer.content
    assert answer.json()["message"].startswith("4 workers put to sleep")
    assert set(states("a-lead", "a-dev", "a-qa", "a-ops").values()) == {"Sleeping"}
    assert AuditRecord.objects.filter(action="state:Sleeping", actor="alice").count() == 4
    assert client.post("/bulk/workers/wake/", {"team": "TEAM-A", "confirmed": "1"}, **JSON).json()["ok"]
    assert set(states("a-lead", "a-dev", "a-qa", "a-ops").values()) == {"Running"}


def test_without_javascript_the_confirmation_page_names_the_workers_and_acts_on_exactly_those(login_client):
    client = login_client("alice")
    page = client.post("/bulk/workers/sleep/", {"q": "dev"}).content.decode()
    assert "1 worker will be put to sleep: a-dev." in page and 'name="name" value="a-dev"' in page
    assert states("a-dev") == {"a-dev": "Running"}  # nothing before the confirmation
    # The confirmed form carries the names; one outside the login's scope is ignored.
    answer = client.post("/bulk/workers/sleep/", {"confirmed": "1", "name": ["a-dev", "b-dev"], "next": "/workers/"})
    assert answer.status_code == 302 and answer["Location"] == "/workers/"
    assert states("a-dev", "b-dev") == {"a-dev": "Sleeping", "b-dev": "Running"}


def test_a_filter_never_reaches_past_the_logins_teams(login_client):
    answer = login_client("alice").post("/bulk/workers/sleep/", {"team": "team-b", "confirmed": "1"}, **JSON)
    assert answer.status_code == 400
    assert answer.json()["message"] == "no worker you may act on matches these filters"
    assert states("b-lead", "b-dev") == {"b-lead": "Running", "b-dev": "Running"}


def test_ensure_ready_waits_for_the_workers_and_says_how_many_run(login_client, monkeypatch):
    monkeypatch.setattr(bulk, "ENSURE_READY_WAIT", 0.2)
    client = login_client("root")
    assert client.post("/bulk/workers/sleep/", {"q": "a-qa", "confirmed": "1"}, **JSON).json()["ok"]
    Worker.objects.filter(name="a-qa").update(phase="Sleeping")  # as its reconcile would
    answer = client.post("/bulk/workers/ensure-ready/", {"team": "team-a", "confirmed": "1"}, **JSON)
    message = answer.json()["message"]
    # No reconcile runs in this test: the three already Running count, a-qa is still asleep.
    assert message.startswith("4 workers woken and waited for; 3 running now, the page updates as the rest start")
    assert states("a-qa") == {"a-qa": "Running"}


def test_unknown_bulk_actions_are_404_and_a_get_is_refused(login_client):
    client = login_client("root")
    assert client.post("/bulk/workers/delete/", {"confirmed": "1"}).status_code == 404
    assert client.get("/bulk/workers/sleep/").status_code == 405


def test_the_worker_list_offers_the_bulk_actions_with_its_filters(login_client):
    page = login_client("alice").get("/workers/?q=dev").content.decode()
    assert 'action="/bulk/workers/sleep/"' in page and 'name="q" value="dev"' in page
    assert "Sleep the 1 worker these filters match?" in page
