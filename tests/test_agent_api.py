"""The agent-facing API of this issue: token auth, heartbeats, the workspace files."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from controller.connections import default_connections
from controller.models import AgentToken, Heartbeat, Worker
from controller.services.apply import apply_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def workers():
    apply_text(
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: ada}\nspec: {model: q}\n---\n"
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: bob}\nspec: {model: q}\n"
    )


def client_for(identity: str, subject: str) -> APIClient:
    _, clear = AgentToken.mint(identity, subject)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


def test_tokens_are_stored_hashed():
    token, clear = AgentToken.mint("worker", "ada")
    assert clear.startswith("hct_") and clear not in (token.digest, token.hint)
    assert AgentToken.authenticate(clear) == token
    token.revoke()
    assert AgentToken.authenticate(clear) is None


def test_heartbeat_updates_the_worker_and_its_history(workers):
    client = client_for("worker", "ada")
    response = client.post("/api/v1/heartbeats", {"state": "idle", "runtimeVersion": "1.2.0"}, format="json")
    assert response.status_code == 202
    ada = Worker.objects.get(name="ada")
    assert ada.last_heartbeat is not None and ada.idle_since == ada.last_heartbeat
    assert ada.runtime_version == "1.2.0"

    client.post("/api/v1/heartbeats", {"state": "busy", "activeTasks": 2}, format="json")
    ada.refresh_from_db()
    assert (ada.idle_since, ada.active_tasks) == (None, 2)
    assert Heartbeat.objects.filter(worker=ada).count() == 2
    assert Worker.objects.get(name="bob").last_heartbeat is None


def test_heartbeat_refusals_name_the_problem(workers):
    anonymous = APIClient().post("/api/v1/heartbeats", {"state": "idle"}, format="json")
    assert anonymous.status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer hct_not-a-token")
    assert bad.post("/api/v1/heartbeats", {"state": "idle"}, format="json").status_code == 401

    invalid = client_for("worker", "ada").post("/api/v1/heartbeats", {"state": "asleep"}, format="json")
    assert invalid.status_code == 400
    body = invalid.json()
    assert body["field"] == "state" and body["message"] == body["error"] and "asleep" in body["message"]

    admin = client_for("admin", "root").post("/api/v1/heartbeats", {"state": "idle"}, format="json")
    assert admin.status_code == 403


def test_workspace_is_limited_to_the_callers_own_prefix(workers):
    storage = default_connections().storage
    storage.put("agents/ada/SOUL.md", b"ada's soul")
    storage.put("agents/bob/SOUL.md", b"bob's soul")
    ada = client_for("worker", "ada")

    listing = ada.get("/api/v1/workspace/files").json()["files"]
    assert [entry["path"] for entry in listing] == ["SOUL.md"]
    assert ada.get("/api/v1/workspace/files/SOUL.md").content == b"ada's soul"

    response = ada.put("/api/v1/workspace/files/sessions/today.log", b"turn 1", content_type="text/plain")
    assert response.status_code == 201
    assert storage.get("agents/ada/sessions/today.log") == b"turn 1"

    escape = ada.get("/api/v1/workspace/files/../bob/SOUL.md")
    assert escape.status_code in (400, 404)
    assert ada.put("/api/v1/workspace/files/..%2Fbob%2FSOUL.md", b"x", content_type="text/plain").status_code == 400
    assert storage.get("agents/bob/SOUL.md") == b"bob's soul"
    assert ada.get("/api/v1/workspace/files/missing.md").status_code == 404
