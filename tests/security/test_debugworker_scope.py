"""A DebugWorker mirrors the workspaces of the workers it targets, so every path that creates
or changes one keeps its targets inside what the caller may see, and keeps its team
annotation, ``spec.target`` and ``spec.targets`` in agreement.

Paths: ``POST /api/v1/apply`` (agent token and dashboard session), ``POST
/api/v1/debugworkers``, the dashboard's create action, the Django admin, and the
apply service itself (the ``hiclaw_apply`` command).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from controller.manifests import ManifestInvalid, dump_yaml
from controller.models import DebugWorker, Team
from controller.services.apply import apply_text
from tests.api.conftest import TEAMS, persona_client

TEAM = "hiclaw.io/team"


@pytest.fixture
def as_persona(db):
    """The API's two teams and standalone worker (tests/api), and a client per persona."""
    apply_text(TEAMS)
    return persona_client


@pytest.fixture
def a_debug(as_persona) -> DebugWorker:
    """team-a's DebugWorker, made by its leader with the leader's own credential."""
    response = as_persona("leader-a").post("/api/v1/apply", manifest("a-debug", team="team-a"), format="json")
    assert response.status_code == 200, response.content
    return DebugWorker.objects.get(name="a-debug")


def manifest(name: str, spec: dict[str, Any] | None = None, team: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if team:
        metadata["annotations"] = {TEAM: team}
    spec = spec if spec is not None else {"target": {"type": "team", "name": team}}
    return {"apiVersion": "hiclaw.io/v1beta1", "kind": "DebugWorker", "metadata": metadata, "spec": spec}


def session(username: str, *, team_admin_of: str = "", staff: bool = False) -> Client:
    """A dashboard login; ``team_admin_of`` makes it that team's admin (spec.admin.name)."""
    user = get_user_model().objects.create_user(username, password="pw-scope-1234", is_staff=staff)
    if team_admin_of:
        team = Team.objects.get(name=team_admin_of)
        team.spec["admin"] = {"name": username}
        team.index_spec()
        team.save()
    client = Client()
    client.force_login(user)
    return client


OUTSIDE_TEAM_A = [
    pytest.param({"targets": ["b-dev"]}, id="targets-another-teams-worker"),
    pytest.param({"targets": ["a-dev", "solo"]}, id="targets-a-standalone-worker"),
    pytest.param({"targets": ["no-such-worker"]}, id="targets-an-unknown-worker"),
    pytest.param({"target": {"type": "worker", "name": "b-dev"}}, id="target-another-teams-worker"),
    pytest.param({"target": {"type": "worker", "name": "solo"}}, id="target-a-standalone-worker"),
    pytest.param({"target": {"type": "team", "name": "team-b"}}, id="target-another-team"),
]


def expected_refusal(spec: dict) -> int:
    """Another team named as the target is answered as if it did not exist (404, as every
    out-of-scope name is); workers outside the caller's reach break the scope rule (403)."""
    return 404 if spec.get("target", {}).get("type") == "team" else 403


# --- POST /apply with a leader's token -------------------------------------------------------
@pytest.mark.parametrize("spec", OUTSIDE_TEAM_A)
def test_a_leader_cannot_apply_a_debugworker_reaching_outside_its_team(as_persona, spec):
    response = as_persona("leader-a").post("/api/v1/apply", manifest("sneak", spec, team="team-a"), format="json")
    assert response.status_code == expected_refusal(spec), response.content
    if response.status_code == 403:
        assert "team-a" in response.json()["message"]
    assert not DebugWorker.objects.filter(name="sneak").exists()


def test_an_unknown_worker_and_another_teams_worker_are_refused_alike(as_persona):
    """The refusal does not tell a leader whether a worker outside its team exists."""
    answers = [
        as_persona("leader-a").post("/api/v1/apply", manifest("sneak", {"targets": [name]}, "team-a"), format="json")
        for name in ("b-dev", "no-such-worker")
    ]
    first, second = (answer.json()["message"] for answer in answers)
    assert first.replace("b-dev", "X") == second.replace("no-such-worker", "X")


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"target": {"type": "team", "name": "team-b"}}, id="to-another-team"),
        pytest.param({"targets": ["b-dev"]}, id="to-another-teams-worker"),
    ],
)
def test_a_leader_cannot_repoint_its_debugworker_at_another_team(as_persona, a_debug, spec):
    before = (a_debug.spec, a_debug.team_name, a_debug.generation)
    spec = {**spec, "matrixCredential": {"userID": "@a-lead:hs.test", "accessToken": "syt_mine"}}
    response = as_persona("leader-a").post("/api/v1/apply", manifest("a-debug", spec, team="team-a"), format="json")
    assert response.status_code == 403, response.content
    a_debug.refresh_from_db()
    assert (a_debug.spec, a_debug.team_name, a_debug.generation) == before


def test_a_leader_can_target_workers_of_its_own_team(as_persona):
    document = manifest("a-pair", {"targets": ["a-dev", "a-qa"]}, team="team-a")
    response = as_persona("leader-a").post("/api/v1/apply", document, format="json")
    assert response.status_code == 200, response.content
    assert DebugWorker.objects.get(name="a-pair").team_name == "team-a"


def test_a_leader_cannot_apply_a_debugworker_without_a_team(as_persona):
    response = as_persona("leader-a").post("/api/v1/apply", manifest("loose", {"targets": ["a-dev"]}), format="json")
    assert response.status_code == 403
    assert not DebugWorker.objects.filter(name="loose").exists()


# --- the annotation, target and targets agree, whoever applies -------------------------------
@pytest.mark.parametrize(
    ("spec", "team", "field"),
    [
        ({"targets": ["a-dev", "b-dev"]}, "team-a", "spec.targets[1]"),
        ({"targets": ["solo"]}, "team-a", "spec.targets[0]"),
        ({"target": {"type": "worker", "name": "b-dev"}}, "team-a", "spec.target.name"),
        ({"target": {"type": "team", "name": "team-b"}}, "team-a", f"metadata.annotations.{TEAM}"),
    ],
)
def test_an_admin_applying_disagreeing_targets_gets_a_422_naming_the_field(as_persona, spec, team, field):
    response = as_persona("admin").post("/api/v1/apply", manifest("odd", spec, team=team), format="json")
    assert response.status_code == 422, response.content
    error = response.json()["errors"][0]
    assert (error["field"], error["rule"]) == (field, "debug-scope")
    assert not DebugWorker.objects.filter(name="odd").exists()


def test_an_admin_may_debug_workers_of_several_teams_without_a_team(as_persona):
    response = as_persona("admin").post(
        "/api/v1/apply", manifest("wide", {"targets": ["a-dev", "b-dev", "solo"]}), format="json"
    )
    assert response.status_code == 200, response.content
    wide = DebugWorker.objects.get(name="wide")
    assert wide.team_name == ""
    assert as_persona("leader-a").get("/api/v1/debugworkers/wide").status_code == 404


def test_the_apply_service_refuses_disagreeing_targets_too(as_persona):
    with pytest.raises(ManifestInvalid) as refused:
        apply_text(dump_yaml([manifest("odd", {"targets": ["b-dev"]}, team="team-a")]))
    assert refused.value.errors[0].field == "spec.targets[0]"
    assert not DebugWorker.objects.filter(name="odd").exists()


# --- POST /debugworkers -----------------------------------------------------------------------
def test_the_rest_create_refuses_an_admins_disagreeing_targets(as_persona):
    body = {"name": "odd", "team": "team-a", "targets": ["b-dev"]}
    response = as_persona("admin").post("/api/v1/debugworkers", body, format="json")
    assert response.status_code == 422
    assert response.json()["field"] == "spec.targets[0]"


def test_the_rest_create_keeps_a_leaders_debugworker_on_its_team(as_persona):
    body = {"name": "mine", "target": {"type": "worker", "name": "b-dev"}, "targets": ["solo"]}
    response = as_persona("leader-a").post("/api/v1/debugworkers", body, format="json")
    assert response.status_code == 201, response.content
    assert DebugWorker.objects.get(name="mine").spec["target"] == {"type": "team", "name": "team-a"}


# --- a team admin's dashboard session -------------------------------------------------------
@pytest.mark.parametrize("spec", OUTSIDE_TEAM_A)
def test_a_team_admin_session_cannot_apply_a_debugworker_outside_its_teams(as_persona, spec):
    client = session("ann", team_admin_of="team-a")
    response = client.post("/api/v1/apply", manifest("sneak", spec, team="team-a"), content_type="application/json")
    assert response.status_code == expected_refusal(spec), response.content
    assert not DebugWorker.objects.filter(name="sneak").exists()


def test_a_team_admin_session_cannot_repoint_a_debugworker(as_persona, a_debug):
    client = session("ann", team_admin_of="team-a")
    document = manifest("a-debug", {"targets": ["b-dev"]}, team="team-a")
    response = client.post("/api/v1/apply", document, content_type="application/json")
    assert response.status_code == 403
    a_debug.refresh_from_db()
    assert a_debug.spec["target"] == {"type": "team", "name": "team-a"}


def test_the_dashboard_action_cannot_take_over_another_teams_debugworker(as_persona):
    apply_text(dump_yaml([manifest("b-debug", team="team-b")]))
    client = session("ann", team_admin_of="team-a")
    answer = client.post(
        "/teams/team-a/debugworkers/", {"name": "b-debug", "confirmed": "1"}, HTTP_ACCEPT="application/json"
    )
    # Names are unique across teams: the create is refused as a taken name, naming no team.
    assert answer.status_code == 409
    assert "team-b" not in answer.content.decode()
    assert DebugWorker.objects.get(name="b-debug").team_name == "team-b"


def test_the_dashboard_action_creates_a_debugworker_for_the_admins_team(as_persona):
    client = session("ann", team_admin_of="team-a")
    answer = client.post(
        "/teams/team-a/debugworkers/", {"name": "a-look", "confirmed": "1"}, HTTP_ACCEPT="application/json"
    )
    assert answer.status_code == 200, answer.content
    assert DebugWorker.objects.get(name="a-look").spec["target"] == {"type": "team", "name": "team-a"}


# --- the Django admin -------------------------------------------------------------------------
def staff_team_admin() -> Client:
    """A staff login that administers team-a and was given the DebugWorker admin permissions."""
    client = session("ann", team_admin_of="team-a", staff=True)
    user = get_user_model().objects.get(username="ann")
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="_debugworker"))
    return client


@pytest.mark.parametrize("spec", OUTSIDE_TEAM_A)
def test_the_django_admin_refuses_a_team_admin_a_debugworker_outside_its_team(as_persona, spec):
    client = staff_team_admin()
    text = dump_yaml([manifest("sneak", spec, team="team-a")])
    response = client.post(reverse("admin:controller_debugworker_add"), {"manifest": text})
    assert response.status_code == 200  # the form again, with the refusal
    assert "team-a" in response.content.decode()
    assert not DebugWorker.objects.filter(name="sneak").exists()


def test_the_django_admin_refuses_a_team_admin_repointing_a_debugworker(as_persona, a_debug):
    client = staff_team_admin()
    text = dump_yaml([manifest("a-debug", {"target": {"type": "team", "name": "team-b"}}, team="team-b")])
    response = client.post(reverse("admin:controller_debugworker_change", args=[a_debug.pk]), {"manifest": text})
    assert response.status_code == 200
    a_debug.refresh_from_db()
    assert a_debug.team_name == "team-a"


def test_the_django_admin_refuses_a_superuser_disagreeing_targets(as_persona, admin_client):
    text = dump_yaml([manifest("odd", {"targets": ["b-dev"]}, team="team-a")])
    response = admin_client.post(reverse("admin:controller_debugworker_add"), {"manifest": text})
    assert response.status_code == 200
    assert "spec.targets[0]" in response.content.decode()
    assert not DebugWorker.objects.filter(name="odd").exists()


def test_the_django_admin_lets_a_team_admin_debug_its_own_team(as_persona):
    client = staff_team_admin()
    text = dump_yaml([manifest("a-look", {"targets": ["a-dev"]}, team="team-a")])
    response = client.post(reverse("admin:controller_debugworker_add"), {"manifest": text})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert DebugWorker.objects.get(name="a-look").team_name == "team-a"
