"""Pages cost a fixed number of queries whatever the number of teams, workers or heartbeats
so they stay fast as a deployment grows: lists are annotated and paginated, never read row by row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controller.models import Heartbeat, Team, Worker

pytestmark = pytest.mark.django_db


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        page = client.get(url)
    assert page.status_code == 200, page.content[:500]
    return len(captured)


def add_workers(team: str, count: int) -> None:
    team_row = Team.objects.get(name=team)
    now = timezone.now()
    first = Worker.objects.filter(team=team_row).count()
    Worker.objects.bulk_create(
        Worker(
            name=f"{team}-w{index:03}",
            team=team_row,
            role="worker",
            spec={"model": "qwen"},
            model="qwen",
            phase="Running" if index % 3 else "Sleeping",
            state="Running",
            last_heartbeat=now,
            idle_since=now if index % 2 else None,
        )
        for index in range(first, first + count)
    )


def add_teams(count: int) -> None:
    Team.objects.bulk_create(
        Team(name=f"extra-{index:02}", spec={"leader": {"name": f"extra-{index:02}-lead", "model": "qwen"}})
        for index in range(count)
    )
    for team in Team.objects.filter(name__startswith="extra-"):
        add_workers(team.name, 3)


@pytest.mark.parametrize("login", ["root", "alice"])
@pytest.mark.parametrize("sort", ["", "?sort=-heartbeat&page=2"])
def test_team_page_costs_the_same_with_10_or_200_workers(login_client, login, sort):
    client = login_client(login)
    add_workers("team-a", 10 - 3)  # and its own three
    with_10 = queries_for(client, f"/teams/team-a/{sort}")
    add_workers("team-a", 190)
    with_200 = queries_for(client, f"/teams/team-a/{sort}")
    assert Worker.objects.filter(team__name="team-a", role="worker").count() == 200
    assert with_10 == with_200, (with_10, with_200)
    print(f"team page as {login} {sort or '(first page)'}: {with_200} queries")


@pytest.mark.parametrize("login", ["root", "alice"])
def test_overview_costs_the_same_with_2_or_20_teams(login_client, login, settings):
    client = login_client(login)
    with_2 = queries_for(client, "/")
    add_teams(18)
    if login == "alice":  # the Human's accessibleTeams grows with the deployment
        from controller.models import Human

        human = Human.objects.get(name="alice")
        human.spec = {**human.spec, "accessibleTeams": ["team-a", *(f"extra-{i:02}" for i in range(18))]}
        human.save(update_fields=["spec"])
    with_20 = queries_for(client, "/")
    assert with_2 == with_20, (with_2, with_20)
    print(f"overview as {login}: {with_20} queries")


def test_worker_page_costs_the_same_with_few_or_many_heartbeats(login_client):
    client = login_client("alice")
    worker = Worker.objects.get(name="a-dev")
    Heartbeat.objects.bulk_create(Heartbeat(worker=worker, state="idle") for _ in range(5))
    few = queries_for(client, "/workers/a-dev/")
    Heartbeat.objects.bulk_create(Heartbeat(worker=worker, state="busy", active_tasks=2) for _ in range(400))
    many = queries_for(client, "/workers/a-dev/")
    assert few == many, (few, many)


def test_worker_list_costs_the_same_with_10_or_200_workers(login_client):
    client = login_client("root")
    add_workers("team-b", 3)
    few = queries_for(client, "/workers/?sort=team")
    add_workers("team-a", 200)
    assert few == queries_for(client, "/workers/?sort=team")
