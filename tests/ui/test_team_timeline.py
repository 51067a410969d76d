"""The team page's Recent events card: the Team's and its members' actions and events, each
naming the resource, newest first, with the zone on every time; and the fragment live.js
fetches to refresh it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controller.models import AuditRecord, Event

pytestmark = pytest.mark.django_db


def seed() -> None:
    now = timezone.now()
    AuditRecord.objects.create(
        at=now - timedelta(minutes=5),
        actor="alice",
        identity="team-admin",
        action="update",
        target_kind="Worker",
        target_name="a-dev",
        detail={"changes": {"model": ["qwen", "claude"]}},
    )
    Event.objects.create(
        at=now - timedelta(minutes=1), kind="Worker", name="a-qa", team="team-a", type="Warning", reason="Crashed"
    )
    Event.objects.create(at=now, kind="Team", name="team-a", team="team-a", reason="PhaseChanged", message="x → y")
    Event.objects.create(kind="Worker", name="b-dev", team="team-b", reason="Crashed", message="the crash of team-b")


def test_team_page_shows_the_team_and_its_members_events_with_the_resource_named(login_client):
    seed()
    html = login_client("alice").get("/teams/team-a/").content.decode()
    card = html[html.index('id="team-events-title"') :]
    card = card[: card.index("</section>")]
    assert 'data-events-url="/teams/team-a/events/"' in html and "data-live-events" in card
    assert (
        card.index("<strong>PhaseChanged</strong>")
        < card.index("<strong>Crashed</strong>")
        < card.index("<strong>update</strong>")
    )
    assert '<a href="/workers/a-dev/" class="mono" data-about="worker/a-dev">worker/a-dev</a>' in card
    assert 'data-about="team/team-a"' in card and 'data-about="worker/a-qa"' in card
    assert "by team-admin alice: model qwen → claude" in card
    assert "the crash of team-b" not in html
    assert card.count("<time ") == 3 and " UTC</time>" in card  # times carry their zone


def test_the_team_events_fragment_follows_the_policy(login_client):
    seed()
    fragment = login_client("alice").get("/teams/team-a/events/")
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert html.startswith("<ul") and "data-live-events" in html and 'data-about="worker/a-qa"' in html
    assert login_client("bob").get("/teams/team-a/events/").status_code == 404
    empty = login_client("bob").get("/teams/team-b/events/").content.decode()
    assert "the crash of team-b" in empty
    Event.objects.filter(team="team-b").delete()
    empty = login_client("bob").get("/teams/team-b/events/").content.decode()
    assert "No recorded actions or events on this team or its members." in empty
