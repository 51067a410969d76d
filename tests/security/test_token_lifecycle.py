"""Tokens outlive roles: an agent's token holds only for the identity and team it was minted for.

A team leader re-applied as a plain worker, or removed from its team, must
not keep acting as that team's leader: the change revokes the subject's
tokens, every request checks the token against the agent's current role, and
the heartbeat fast path's cache follows within HICLAW_TOKEN_CACHE_SECONDS.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient

from controller.ingest import HeartbeatIngest
from controller.models import AgentToken, Team, Worker
from controller.services.apply import apply_text
from controller.services.lifecycle import request_deletion
from tests.api.conftest import TEAMS

pytestmark = pytest.mark.django_db

DEMOTED = """
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-a}
spec:
  leader:
    name: a-qa
    model: qwen
    permissions: {canScaleWorkers: true, maxWorkers: 3, canSwitchModel: true, allowedModels: [qwen, claude]}
  workers:
    - {name: a-dev, model: qwen}
    - {name: a-lead, model: qwen}
"""
REMOVED = DEMOTED.replace("    - {name: a-lead, model: qwen}\n", "")


@pytest.fixture
def world():
    apply_text(TEAMS)


def bearer(clear: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


@pytest.fixture
def leader_token(world) -> str:
    return AgentToken.mint("team-leader", "a-lead", team="team-a")[1]


def leader_powers(clear: str) -> list[int]:
    """What a team-a leader may do: sleep a member, wake it, create a worker in the team."""
    client = bearer(clear)
    return [
        client.post("/api/v1/workers/a-dev/sleep").status_code,
        client.post("/api/v1/workers/a-dev/wake").status_code,
        client.post("/api/v1/workers", {"name": "a-new", "model": "qwen", "team": "team-a"}, format="json").status_code,
    ]


def test_the_leader_token_works_while_it_leads(leader_token):
    assert leader_powers(leader_token) == [200, 200, 201]


@pytest.mark.parametrize("change", [DEMOTED, REMOVED], ids=["re-applied-as-worker", "removed-from-team"])
def test_a_former_leaders_token_is_revoked_when_its_role_changes(leader_token, change):
    apply_text(change)
    assert leader_powers(leader_token) == [401, 401, 401]
    assert not AgentToken.objects.active().filter(subject="a-lead").exists()
    assert Worker.objects.get(name="a-dev").state == "Running"
    assert not Worker.objects.filter(name="a-new").exists()


def test_deleting_the_team_revokes_its_members_tokens(leader_token):
    worker = AgentToken.mint("worker", "a-dev", team="team-a")[1]
    request_deletion(Team.objects.get(name="team-a"))
    assert bearer(leader_token).get("/api/v1/workers/a-dev").status_code == 401
    assert bearer(worker).get("/api/v1/workers/a-dev").status_code == 401


@pytest.mark.parametrize(
    ("identity", "subject", "team"),
    [
        ("team-leader", "a-dev", "team-a"),  # a worker's name, minted as a leader
        ("team-leader", "a-lead", "team-b"),  # a leader, minted for another team
        ("worker", "a-dev", "team-b"),  # a member, minted for another team
        ("worker", "a-dev", ""),  # a member, minted as standalone
        ("worker", "ghost", ""),  # no such agent
    ],
)
def test_every_request_checks_the_token_against_the_current_role(world, identity, subject, team):
    """Even a token never revoked (minted by hand, or before a change made behind the API's back)."""
    token, clear = AgentToken.mint(identity, subject, team=team)
    response = bearer(clear).get("/api/v1/workers")
    assert response.status_code == 401, response.json()
    token.refresh_from_db()
    assert token.revoked_at is not None  # a mismatched token never comes back to life


def test_a_role_changed_behind_the_apis_back_is_still_caught(leader_token):
    Worker.objects.filter(name="a-lead").update(role="worker")
    assert bearer(leader_token).post("/api/v1/workers/a-dev/sleep").status_code == 401
    assert Worker.objects.get(name="a-dev").state == "Running"


def test_minting_an_agents_new_token_revokes_its_tokens_of_every_identity(leader_token):
    """The reconciler mints on each new instance: a demoted leader's instance gets a worker token,
    and its leader token must not survive next to it."""
    AgentToken.mint("worker", "a-lead", team="team-a", replace=True)
    assert bearer(leader_token).get("/api/v1/workers").status_code == 401
    assert list(AgentToken.objects.active().filter(subject="a-lead").values_list("identity", flat=True)) == ["worker"]


def test_the_worker_reconciler_mints_a_token_for_the_current_role(leader_token, settings):
    from controller.connections import default_connections
    from controller.reconcilers.worker import WorkerReconciler

    apply_text(DEMOTED)
    spec = WorkerReconciler(default_connections()).instance_spec(
        Worker.objects.get(name="a-lead"), "hiclaw-worker-a-lead"
    )
    clear = spec.secret_env["HICLAW_AGENT_TOKEN"]
    assert bearer(clear).post("/api/v1/workers/a-lead/sleep").status_code == 200  # itself, as a worker
    assert bearer(clear).post("/api/v1/workers/a-dev/sleep").status_code == 404  # no longer its leader
    assert bearer(leader_token).get("/api/v1/workers").status_code == 401


def heartbeat(app: HeartbeatIngest, clear: str) -> int:
    headers = [(b"authorization", f"Bearer {clear}".encode()), (b"content-type", b"application/json")]
    scope = {"type": "http", "method": "POST", "path": "/api/v1/heartbeats", "headers": headers}
    messages = [{"type": "http.request", "body": json.dumps({"state": "idle"}).encode(), "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    async_to_sync(app)(scope, receive, send)
    return sent[0]["status"]


def test_the_heartbeat_fast_path_checks_the_current_role_too(leader_token):
    """A cache entry lives at most HICLAW_TOKEN_CACHE_SECONDS; a fresh check sees the change."""
    app = HeartbeatIngest(None, "redis://127.0.0.1:1/0", cache_seconds=0)
    Worker.objects.filter(name="a-lead").update(role="worker")  # not revoked: only the check can catch it
    assert heartbeat(app, leader_token) == 401
    assert heartbeat(app, AgentToken.mint("worker", "ghost")[1]) == 401


def test_a_demoted_leaders_instance_is_replaced_with_a_token_for_its_new_role(world):
    """Its old token is revoked with the change; its running instance gets a new one on the next pass."""
    from controller import reconcilers

    assert reconcilers.reconcile("Worker", "a-lead").requeue_after is None
    held = AgentToken.objects.active().filter(subject="a-lead")
    assert list(held.values_list("identity", "team")) == [("team-leader", "team-a")]
    apply_text(DEMOTED)
    assert not held.exists()
    assert reconcilers.reconcile("Worker", "a-lead").requeue_after is None
    assert list(held.values_list("identity", "team")) == [("worker", "team-a")]
    assert Worker.objects.get(name="a-lead").phase == "Running"


def test_minting_by_hand_warns_when_the_token_would_be_refused(world):
    import io

    from django.core.management import call_command

    err = io.StringIO()
    call_command("hiclaw_token", "create", "--leader", "a-dev", "--team", "team-a", stdout=io.StringIO(), stderr=err)
    assert "warning: a-dev is worker of team team-a" in err.getvalue()
    err = io.StringIO()
    call_command("hiclaw_token", "create", "--leader", "a-lead", "--team", "team-a", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""
