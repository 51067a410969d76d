"""Every worker endpoint x every identity x every kind of target: allowed or refused.

Targets are relative to the caller: a worker of team A, a worker of team B, a
standalone worker. The expected outcome is written out as a table (not
derived from the policy under test). A refusal is exact: 404 for a target the
caller may not see (the answer a missing one gets), 403 naming the rule for
one it sees but may not change.
"""

from __future__ import annotations

import pytest

from controller.models import DebugWorker, Team, Worker
from tests.api.conftest import PERSONAS

TARGETS = ("a-dev", "b-dev", "solo")
ACTIONS = {
    "get": ("get", "/api/v1/workers/{t}", None),
    "status": ("get", "/api/v1/workers/{t}/status", None),
    "wake": ("post", "/api/v1/workers/{t}/wake", None),
    "sleep": ("post", "/api/v1/workers/{t}/sleep", None),
    "ensure-ready": ("post", "/api/v1/workers/{t}/ensure-ready?timeout=0", None),
    "ready": ("post", "/api/v1/workers/{t}/ready", None),
    "update": ("put", "/api/v1/workers/{t}", {"soul": "changed"}),
    "delete": ("delete", "/api/v1/workers/{t}", None),
}
EVERYTHING = {(action, target) for action in ACTIONS for target in TARGETS}
SELF_ACTIONS = ("get", "status", "wake", "sleep", "ensure-ready", "ready")
ALLOWED = {
    "admin": EVERYTHING,
    "manager": EVERYTHING,
    "leader-a": {(action, "a-dev") for action in ACTIONS},
    "leader-b": {(action, "b-dev") for action in ACTIONS},
    "worker-a": {(action, "a-dev") for action in SELF_ACTIONS},
    "solo": {(action, "solo") for action in SELF_ACTIONS},
    "anonymous": set(),
}
# Seen but not changeable: a worker reads itself and changes its run state, nothing more.
FORBIDDEN = {
    "worker-a": {("update", "a-dev"), ("delete", "a-dev")},
    "solo": {("update", "solo"), ("delete", "solo")},
}


def refusal(persona: str, refused: tuple[str, str], forbidden: dict[str, set]) -> int:
    if persona == "anonymous":
        return 401
    return 403 if refused in forbidden.get(persona, set()) else 404


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("persona", [*PERSONAS, "anonymous"])
def test_worker_endpoint_authorization(as_persona, persona, action, target):
    method, url, body = ACTIONS[action]
    response = getattr(as_persona(persona), method)(url.format(t=target), body, format="json")
    if (action, target) in ALLOWED[persona]:
        assert response.status_code < 300, (response.status_code, response.json())
        return
    assert response.status_code == refusal(persona, (action, target), FORBIDDEN), (
        response.status_code,
        response.content,
    )
    assert response.json()["message"] == response.json()["error"]
    if action not in ("get", "status"):
        # A refused change changed nothing.
        worker = Worker.objects.get(name=target)
        assert (worker.generation, worker.deletion_requested_at) == (1, None)


@pytest.mark.parametrize(
    ("persona", "visible"),
    [
        ("admin", {"a-lead", "a-dev", "a-qa", "b-lead", "b-dev", "solo"}),
        ("manager", {"a-lead", "a-dev", "a-qa", "b-lead", "b-dev", "solo"}),
        ("leader-a", {"a-lead", "a-dev", "a-qa"}),
        ("leader-b", {"b-lead", "b-dev"}),
        ("worker-a", {"a-dev"}),
        ("solo", {"solo"}),
    ],
)
def test_worker_lists_are_scoped(as_persona, persona, visible):
    body = as_persona(persona).get("/api/v1/workers").json()
    assert {w["name"] for w in body["workers"]} == visible
    assert body["total"] == len(visible)
    status = as_persona(persona).get("/api/v1/workers/status").json()["workers"]
    assert {line["name"] for line in status} == visible


@pytest.mark.parametrize(
    ("persona", "teams", "humans", "managers"),
    [
        ("admin", {"team-a", "team-b"}, {"alice"}, {"default"}),
        ("manager", {"team-a", "team-b"}, {"alice"}, {"default"}),
        ("leader-a", {"team-a"}, {"alice"}, set()),  # humans of its team, read-only
        ("worker-a", set(), set(), set()),
        ("solo", set(), set(), set()),
    ],
)
def test_other_lists_are_scoped(as_persona, persona, teams, humans, managers):
    client = as_persona(persona)
    assert {t["name"] for t in client.get("/api/v1/teams").json()["teams"]} == teams
    assert {h["name"] for h in client.get("/api/v1/humans").json()["humans"]} == humans
    assert {m["name"] for m in client.get("/api/v1/managers").json()["managers"]} == managers


@pytest.mark.parametrize(
    ("persona", "team", "allowed"),
    [
        ("admin", "team-b", True),
        ("manager", "", True),
        ("leader-a", "team-a", True),
        ("leader-a", "team-b", False),
        ("leader-a", "", False),
        ("leader-b", "team-a", False),
        ("worker-a", "team-a", False),
        ("solo", "", False),
    ],
)
def test_creating_workers(as_persona, persona, team, allowed):
    body = {"name": "new-one", "model": "qwen", **({"team": team} if team else {})}
    response = as_persona(persona).post("/api/v1/workers", body, format="json")
    assert (response.status_code == 201) == allowed, response.json()
    assert Worker.objects.filter(name="new-one").exists() == allowed
    if allowed and team:
        assert Worker.objects.get(name="new-one").team.name == team


@pytest.mark.parametrize(
    ("persona", "manifest", "allowed"),
    [
        ("admin", "solo-2", True),
        ("leader-a", "solo-2", False),
        ("leader-a", "team-a", False),
        ("worker-a", "solo-2", False),
        ("manager", "team-a", True),
    ],
)
def test_apply_is_authorized_per_document(as_persona, persona, manifest, allowed):
    if manifest == "team-a":
        text = (
            "apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {name: team-a}\n"
            "spec: {leader: {name: a-lead, model: qwen}, workers: [{name: a-dev, model: qwen}]}\n"
        )
    else:
        text = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: solo-2}\nspec: {model: qwen}\n"
    response = as_persona(persona).post("/api/v1/apply", text, content_type="application/yaml")
    assert (response.status_code == 200) == allowed, response.json()
    if not allowed:
        assert response.status_code == 403
        assert "may" in response.json()["message"]


TEAM_TARGETS = ("team-a", "team-b")
TEAM_ACTIONS = {
    "get": ("get", "/api/v1/teams/{t}", None),
    "update": ("put", "/api/v1/teams/{t}", {"description": "changed"}),
    "delete": ("delete", "/api/v1/teams/{t}", None),
    "push": ("post", "/api/v1/config/push", {"team": "{t}"}),
}
TEAM_ALLOWED = {
    "admin": {(a, t) for a in TEAM_ACTIONS for t in TEAM_TARGETS},
    "manager": {(a, t) for a in TEAM_ACTIONS for t in TEAM_TARGETS},
    # A leader reads its own team and pushes config to it; its spec is the admin's.
    "leader-a": {("get", "team-a"), ("push", "team-a")},
    "leader-b": {("get", "team-b"), ("push", "team-b")},
    "worker-a": set(),
    "solo": set(),
    "anonymous": set(),
}
TEAM_FORBIDDEN = {
    "leader-a": {("update", "team-a"), ("delete", "team-a")},
    "leader-b": {("update", "team-b"), ("delete", "team-b")},
}


@pytest.mark.parametrize("target", TEAM_TARGETS)
@pytest.mark.parametrize("action", TEAM_ACTIONS)
@pytest.mark.parametrize("persona", [*PERSONAS, "anonymous"])
def test_team_endpoint_authorization(as_persona, persona, action, target):
    method, url, body = TEAM_ACTIONS[action]
    body = {key: value.format(t=target) for key, value in body.items()} if body else None
    response = getattr(as_persona(persona), method)(url.format(t=target), body, format="json")
    if (action, target) in TEAM_ALLOWED[persona]:
        assert response.status_code < 300, (response.status_code, response.json())
        return
    expected = refusal(persona, (action, target), TEAM_FORBIDDEN)
    assert response.status_code == expected, (response.status_code, response.content)
    team = Team.objects.get(name=target)
    assert (team.generation, team.deletion_requested_at) == (1, None)


@pytest.fixture
def debugworkers(world):
    from controller.services.apply import apply_text
    from tests.helpers import manifest, to_yaml

    for team in ("team-a", "team-b"):
        apply_text(to_yaml(manifest("DebugWorker", f"dbg-{team}", {"target": {"type": "team", "name": team}})))


@pytest.mark.parametrize("target", ("dbg-team-a", "dbg-team-b"))
@pytest.mark.parametrize("persona", [*PERSONAS, "anonymous"])
def test_debugworker_authorization(as_persona, debugworkers, persona, target):
    own = {"leader-a": "dbg-team-a", "leader-b": "dbg-team-b"}.get(persona)
    allowed = persona in ("admin", "manager") or own == target
    client = as_persona(persona)
    refused = 401 if persona == "anonymous" else 404  # nobody sees a DebugWorker it may not delete
    assert client.get(f"/api/v1/debugworkers/{target}").status_code == (200 if allowed else refused)
    deleted = client.delete(f"/api/v1/debugworkers/{target}")
    assert deleted.status_code == (202 if allowed else refused), deleted.content
    assert (DebugWorker.objects.get(name=target).deletion_requested_at is not None) == allowed
