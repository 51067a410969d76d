"""What the rollout tests share: a team manifest with an image, stepping a rollout like the
Celery task does, and reporting for a new instance as its agent would."""

from __future__ import annotations

from rest_framework.test import APIClient

from controller.models import Upgrade, Worker
from controller.reconcilers import rollout
from tests.helpers import manifest, to_yaml


def team_yaml(team: str, workers: list[str], image: str, *, max_unavailable: int = 1) -> str:
    spec = {
        "image": image,
        "upgrade": {"maxUnavailable": max_unavailable},
        "leader": {"name": f"{team}-lead", "model": "qwen", "permissions": {"maxWorkers": 20}},
        "workers": [{"name": f"{team}-{w}", "model": "qwen"} for w in workers],
        "debug": {"enabled": False},
    }
    return to_yaml(manifest("Team", team, spec))


def bring_up(driver, team: str) -> None:
    names = Worker.objects.filter(team__name=team).values_list("name", flat=True)
    driver.converge(*[("Worker", name) for name in names], ("Team", team))


def the_rollout() -> Upgrade:
    return Upgrade.objects.get(kind=Upgrade.Kind.ROLLOUT, state__in=("Pending", "Running", "Paused"))


def step(driver, upgrade_id: int) -> float | None:
    """One look at the rollout (what ``controller.tasks.advance_rollout`` does), then the
    reconciles it queued."""
    wait = rollout.advance(upgrade_id, driver.connections)
    driver.converge()
    return wait


def report(token: str) -> None:
    """A heartbeat through the API with ``token``: what the new instance's agent sends first."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    answer = client.post("/api/v1/heartbeats", {"state": "idle"}, format="json")
    assert answer.status_code in (200, 202, 204), answer.content
