"""Which pages are live, and the fragments live pages fetch for rows they lack."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern

from controller.services.apply import apply_text
from debugui import live_pages
from debugui.urls import urlpatterns

pytestmark = pytest.mark.django_db

# Form targets: they answer a POST with a redirect or a confirmation, never a page to keep open.
ACTIONS = {
    "team-push",
    "team-image",
    "create-debugworker",
    "worker-action",
    "delete-debugworker",
    "debug-jobs",
    "workers-bulk",
}


def test_every_dashboard_page_is_either_live_or_known_not_to_be():
    names = {pattern.name for pattern in urlpatterns if isinstance(pattern, URLPattern)}
    unclassified = names - set(live_pages.LIVE_PAGES) - live_pages.STATIC_PAGES - ACTIONS
    assert unclassified == set(), "add the page to debugui.live_pages"
    assert set(live_pages.LIVE_PAGES) & live_pages.STATIC_PAGES == set()


@pytest.mark.parametrize(
    ("path", "socket"),
    [
        ("/", "/ws/overview/"),
        ("/teams/team-a/", "/ws/teams/team-a/"),
        ("/workers/", "/ws/workers/"),
        ("/workers/?team=team-a&sort=-name", "/ws/workers/?team=team-a"),
        ("/workers/a-dev/", "/ws/workers/a-dev/"),
        ("/debug/", "/ws/debugworkers/"),
        ("/upgrades/", "/ws/upgrades/"),
        ("/humans/", "/ws/humans/"),
        ("/managers/", "/ws/managers/"),
    ],
)
def test_list_and_detail_pages_carry_their_socket(login_client, path, socket):
    html = login_client("alice").get(path).content.decode()
    assert f'data-live="{socket}"' in html


def test_the_no_role_page_and_a_workspace_browser_have_no_dashboard_socket(login_client, debugworker):
    assert "data-live=" not in login_client("carol").get("/").content.decode()
    assert "data-live=" not in login_client("root").get("/debug/a-debug/workspaces/").content.decode()
    assert 'data-live="/ws/debugworkers/a-debug/"' in login_client("root").get("/debug/a-debug/").content.decode()


def test_manager_and_human_rows_are_fetched_under_the_same_policy(login_client):
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: default}\nspec: {model: qwen}\n")
    root, alice, bob = login_client("root"), login_client("alice"), login_client("bob")
    assert root.get("/managers/default/row/").content.decode().startswith('<tr data-manager="default"')
    assert 'data-live="/ws/managers/default/"' in root.get("/managers/default/").content.decode()
    human = root.get("/humans/alice/row/").content.decode()
    assert human.startswith('<tr data-human="alice"') and "alice (linked)" in human
    assert alice.get("/managers/default/row/").status_code == 404  # Managers: admins only
    assert bob.get("/humans/alice/row/").status_code == 404  # a Human of team-a, not of bob's team


def test_a_worker_row_is_the_pages_partial_under_the_same_policy(login_client):
    alice = login_client("alice")
    row = alice.get("/workers/a-dev/row/?show_team=1&next=/workers/").content.decode()
    assert row.startswith('<tr data-worker="a-dev"') and 'href="/teams/team-a/"' in row
    assert 'name="next" value="/workers/"' in row and "csrfmiddlewaretoken" in row
    assert login_client("bob").get("/workers/a-dev/row/").status_code == 404
    assert alice.get("/workers/a-lead/row/?team=team-a&role=worker").status_code == 204
    assert alice.get("/workers/a-dev/row/?team=-").status_code == 204
    # A next that leaves the site is not carried into the row's forms.
    assert (
        'value="https://evil.example/"'
        not in alice.get("/workers/a-dev/row/?next=https://evil.example/").content.decode()
    )


def test_recent_events_and_debugworker_rows_are_fetched_the_same_way(login_client, debugworker):
    alice, bob = login_client("alice"), login_client("bob")
    assert re.search(r'<ul class="events" data-live-events>', alice.get("/workers/a-dev/events/").content.decode())
    assert bob.get("/workers/a-dev/events/").status_code == 404
    team_row = alice.get("/debug/a-debug/row/?team=team-a").content.decode()
    assert team_row.startswith('<tr data-debugworker="a-debug"') and team_row.count("<td") == 4
    assert alice.get("/debug/a-debug/row/").content.decode().count("<td") == 6
    assert bob.get("/debug/a-debug/row/").status_code == 404
    assert bob.get("/debug/a-debug/row/?team=team-a").status_code == 404
