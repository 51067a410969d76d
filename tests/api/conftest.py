"""API fixtures: two teams, a standalone worker, and a client per persona."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from controller.models import AgentToken
from controller.services.apply import apply_text

TEAMS = """
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-a}
spec:
  leader:
    name: a-lead
    model: qwen
    permissions: {canScaleWorkers: true, maxWorkers: 3, canSwitchModel: true, allowedModels: [qwen, claude]}
  workers:
    - {name: a-dev, model: qwen}
    - {name: a-qa, model: qwen}
---
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-b}
spec:
  leader: {name: b-lead, model: qwen}
  workers:
    - {name: b-dev, model: qwen}
---
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {name: solo}
spec: {model: qwen}
---
apiVersion: hiclaw.io/v1beta1
kind: Human
metadata: {name: alice}
spec: {displayName: Alice, permissionLevel: 2, accessibleTeams: [team-a]}
---
apiVersion: hiclaw.io/v1beta1
kind: Manager
metadata: {name: default}
spec: {model: claude}
"""

PERSONAS = {
    "admin": ("admin", "root", ""),
    "manager": ("manager", "default", ""),
    "leader-a": ("team-leader", "a-lead", "team-a"),
    "leader-b": ("team-leader", "b-lead", "team-b"),
    "worker-a": ("worker", "a-dev", "team-a"),
    "solo": ("worker", "solo", ""),
}


@pytest.fixture
def world(db):
    apply_text(TEAMS)


def persona_client(persona: str) -> APIClient:
    client = APIClient()
    if persona != "anonymous":
        identity, subject, team = PERSONAS[persona]
        _, clear = AgentToken.mint(identity, subject, team=team)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


@pytest.fixture
def as_persona(world):
    return persona_client
