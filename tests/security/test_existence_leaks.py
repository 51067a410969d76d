"""Refusals reveal nothing: a target outside the caller's scope is answered exactly as a missing one.

For every route (reads and writes, REST and the original CLI's routes, and the
dashboard's actions) the answer about another team's resource is the 404 a
name that does not exist gets, with the same message, naming no other team. A
target the caller may see but not change still gets 403 naming the rule.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from controller.models import Human, Team, Worker
from controller.services.apply import apply_text
from tests.api.conftest import TEAMS, persona_client

pytestmark = pytest.mark.django_db
GHOST = "ghost"
OTHER_TEAM_WORDS = ("team-b", "b-lead")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


@pytest.fixture
def world():
    apply_text(TEAMS)
    apply_text(
        "apiVersion: hiclaw.io/v1beta1\nkind: DebugWorker\nmetadata: {name: dbg-b}\n"
        "spec: {target: {type: team, name: team-b}}\n---\n"
        "apiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: bob}\n"
        "spec: {displayName: Bob, permissionLevel: 2, accessibleTeams: [team-b]}\n"
    )


# (method, url, body): "{t}" is the target's name.
ROUTES = {
    "worker": [
        ("get", "/api/v1/workers/{t}", None),
        ("get", "/api/v1/workers/{t}/status", None),
        ("post", "/api/v1/workers/{t}/wake", None),
        ("post", "/api/v1/workers/{t}/sleep", None),
        ("post", "/api/v1/workers/{t}/ensure-ready?timeout=0", None),
        ("post", "/api/v1/workers/{t}/ready", None),
        ("put", "/api/v1/workers/{t}", {"soul": "changed"}),
        ("put", "/api/v1/workers/{t}", {"model": "claude"}),
        ("delete", "/api/v1/workers/{t}", None),
        ("post", "/api/v1/config/push", {"worker": "{t}"}),
    ],
    "team": [
        ("get", "/api/v1/teams/{t}", None),
        ("put", "/api/v1/teams/{t}", {"description": "changed"}),
        ("delete", "/api/v1/teams/{t}", None),
        ("post", "/api/v1/config/push", {"team": "{t}"}),
        ("post", "/api/v1/workers", {"name": "new-one", "model": "qwen", "team": "{t}"}),
        ("post", "/api/v1/debugworkers", {"name": "dbg-new", "team": "{t}"}),
    ],
    "debugworker": [
        ("get", "/api/v1/debugworkers/{t}", None),
        ("delete", "/api/v1/debugworkers/{t}", None),
    ],
    "human": [
        ("get", "/api/v1/humans/{t}", None),
        ("put", "/api/v1/humans/{t}", {"note": "changed"}),
        ("delete", "/api/v1/humans/{t}", None),
    ],
    "manager": [
        ("get", "/api/v1/managers/{t}", None),
        ("put", "/api/v1/managers/{t}", {"soul": "changed"}),
        ("delete", "/api/v1/managers/{t}", None),
    ],
}
# Out of scope for the persona, by kind of target.
HIDDEN = {
    "leader-a": {
        "worker": ["b-dev", "b-lead", "solo"],
        "team": ["team-b"],
        "debugworker": ["dbg-b"],
        "human": ["bob"],
        "manager": ["default"],
    },
    "worker-a": {
        "worker": ["a-qa", "a-lead", "b-dev", "solo"],
        "team": ["team-a", "team-b"],
        "debugworker": ["dbg-b"],
        "human": ["alice", "bob"],
        "manager": ["default"],
    },
    "solo": {
        "worker": ["a-dev", "b-dev"],
        "team": ["team-a"],
        "debugworker": ["dbg-b"],
        "human": ["alice"],
        "manager": ["default"],
    },
}
CASES = [
    (persona, kind, index, target)
    for persona, kinds in HIDDEN.items()
    for kind, targets in kinds.items()
    for index in range(len(ROUTES[kind]))
    for target in targets
]


def call(client, route: tuple, target: str):
    method, url, body = route
    body = {key: value.format(t=target) for key, value in body.items()} if body else None
    return getattr(client, method)(url.format(t=target), body, format="json")


def unchanged_world() -> list:
    return sorted(
        [(w.name, w.generation, w.deletion_requested_at) for w in Worker.objects.all()]
        + [(t.name, t.generation, t.deletion_requested_at) for t in Team.objects.all()]
        + [(h.name, h.generation, h.deletion_requested_at) for h in Human.objects.all()],
        key=str,
    )


@pytest.mark.parametrize(("persona", "kind", "index", "target"), CASES)
def test_an_out_of_scope_target_is_answered_like_a_missing_one(world, persona, kind, index, target):
    client = persona_client(persona)
    before = unchanged_world()
    route = ROUTES[kind][index]
    hidden, missing = call(client, route, target), call(client, route, GHOST)
    # A worker may create nothing anywhere: its creates are 403 whatever the team.
    expected = 403 if persona in ("worker-a", "solo") and route[0] == "post" and "name" in (route[2] or {}) else 404
    assert (hidden.status_code, missing.status_code) == (expected, expected), (hidden.json(), missing.json())
    hidden_body, missing_body = hidden.json(), missing.json()
    assert hidden_body["message"].replace(target, "NAME") == missing_body["message"].replace(GHOST, "NAME")
    assert hidden_body.get("field") == missing_body.get("field")
    assert not any(word in hidden.content.decode() for word in OTHER_TEAM_WORDS if word != target)
    assert unchanged_world() == before


@pytest.mark.parametrize(
    ("persona", "route", "target", "rule"),
    [
        ("worker-a", ("put", "/api/v1/workers/{t}", {"soul": "x"}), "a-dev", "worker a-dev may"),
        ("worker-a", ("delete", "/api/v1/workers/{t}", None), "a-dev", "worker a-dev may"),
        ("worker-a", ("post", "/api/v1/config/push", {"worker": "{t}"}), "a-dev", "worker a-dev may"),
        ("leader-a", ("put", "/api/v1/teams/{t}", {"description": "x"}), "team-a", "may not change team/team-a"),
        ("leader-a", ("delete", "/api/v1/teams/{t}", None), "team-a", "may not change team/team-a"),
        ("leader-a", ("put", "/api/v1/humans/{t}", {"note": "x"}), "alice", "team-leader a-lead may not"),
    ],
)
def test_a_visible_target_the_caller_may_not_change_is_403_naming_the_rule(world, persona, route, target, rule):
    before = unchanged_world()
    response = call(persona_client(persona), route, target)
    assert response.status_code == 403, response.json()
    assert rule in response.json()["message"]
    assert unchanged_world() == before


def test_a_worker_may_still_sleep_and_wake_itself(world):
    client = persona_client("worker-a")
    assert client.post("/api/v1/workers/a-dev/sleep").status_code == 200
    assert client.post("/api/v1/workers/a-dev/wake").status_code == 200


def test_creating_under_a_taken_name_does_not_say_whose_it_is(world):
    """A name is unique across teams, so a create under a taken name must fail; it names no team."""
    response = persona_client("leader-a").post(
        "/api/v1/workers", {"name": "b-dev", "model": "qwen", "team": "team-a"}, format="json"
    )
    assert response.status_code == 409
    assert not any(word in response.content.decode() for word in OTHER_TEAM_WORDS)
    assert Worker.objects.get(name="b-dev").team.name == "team-b"


def test_applying_over_another_teams_resource_is_refused_without_naming_it(world):
    """A leader's manifest with another team's DebugWorker's name must not take it over."""
    manifest = (
        "apiVersion: hiclaw.io/v1beta1\nkind: DebugWorker\nmetadata: {name: dbg-b}\n"
        "spec: {target: {type: team, name: team-a}}\n"
    )
    response = persona_client("leader-a").post("/api/v1/apply", manifest, content_type="application/yaml")
    assert response.status_code == 422, response.json()  # as docs/api.md words it
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("metadata.name", "name-taken")]
    assert not any(word in response.content.decode() for word in OTHER_TEAM_WORDS)
    from controller.models import DebugWorker

    assert DebugWorker.objects.get(name="dbg-b").team_name == "team-b"


@pytest.mark.parametrize("team", ["team-b", GHOST])
def test_applying_into_another_team_is_the_documented_404_of_a_missing_team(world, team):
    """/apply answers a member of another team as one of a team that does not exist, and the
    OpenAPI document lists that answer (schemathesis holds answers to the document)."""
    from drf_spectacular.generators import SchemaGenerator

    manifest = (
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\n"
        f"metadata: {{name: a-new, annotations: {{hiclaw.io/team: {team}}}}}\nspec: {{model: qwen}}\n"
    )
    response = persona_client("leader-a").post("/api/v1/apply", manifest, content_type="application/yaml")
    assert response.status_code == 404
    assert response.json()["message"].endswith(f"team/{team} not found")
    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"]["/api/v1/apply"]["post"]
    assert "404" in operation["responses"]


@pytest.fixture
def alice(world) -> Client:
    """A dashboard login administering team-a (a Human of level 2)."""
    user = get_user_model().objects.create_user("alice", password="pw-alice-123")
    Human.objects.filter(name="alice").update(user=user)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/workers/{t}/sleep/", {}),
        ("/workers/{t}/model/", {"model": "qwen"}),
        ("/teams/{t}/debugworkers/", {"name": "dbg-new"}),
        ("/debug/{t}/delete/", {}),
    ],
)
@pytest.mark.parametrize("target", ["b-dev", "team-b", "dbg-b"])
def test_dashboard_actions_answer_an_out_of_scope_target_like_a_missing_one(alice, url, data, target):
    before = unchanged_world()
    post = {**data, "confirmed": "1"}
    hidden = alice.post(url.format(t=target), post, HTTP_ACCEPT="application/json")
    missing = alice.post(url.format(t=GHOST), post, HTTP_ACCEPT="application/json")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    pages = [CSRF.sub("", answer.content.decode()) for answer in (hidden, missing)]
    assert pages[0].replace(target, "NAME") == pages[1].replace(GHOST, "NAME")
    assert unchanged_world() == before


def test_a_dashboard_debugworker_under_a_taken_name_names_no_team(alice):
    answer = alice.post(
        "/teams/team-a/debugworkers/", {"name": "dbg-b", "confirmed": "1"}, HTTP_ACCEPT="application/json"
    )
    assert answer.status_code == 409
    assert not any(word in answer.content.decode() for word in OTHER_TEAM_WORDS)
