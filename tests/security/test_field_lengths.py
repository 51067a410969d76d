"""Manifest fields stored in length-limited columns are refused past the column's length with a
422 naming the field, not a database error (a 500 on PostgreSQL, silently stored on SQLite).

Runs on whichever database the settings use: PostgreSQL when DATABASE_URL points at one,
SQLite otherwise. The limits are read off the model columns, so the test follows them.
"""

from __future__ import annotations

import pytest

from controller.models import Human, Manager, Team, Upgrade, Worker
from controller.services.apply import apply_text
from tests.api.conftest import TEAMS, persona_client
from tests.helpers import manifest


@pytest.fixture
def admin(db):
    apply_text(TEAMS)
    return persona_client("admin")


def limit(model, column: str) -> int:
    return model._meta.get_field(column).max_length


def text(length: int) -> str:
    return "m" * length


def email(length: int) -> str:
    domain = "@example.org"
    return "a" * (length - len(domain)) + domain


# (kind, the spec with the value, the field path, the model and column the value lands in, value maker)
CASES = [
    ("Worker", lambda v: {"model": v}, "spec.model", Worker, "model", text),
    ("Manager", lambda v: {"model": v}, "spec.model", Manager, "model", text),
    ("Team", lambda v: {"leader": {"name": "l-lead", "model": v}}, "spec.leader.model", Worker, "model", text),
    (
        "Team",
        lambda v: {"leader": {"name": "l-lead", "model": "q"}, "workers": [{"name": "l-dev", "model": v}]},
        "spec.workers[0].model",
        Worker,
        "model",
        text,
    ),
    (
        "Team",
        lambda v: {"admin": {"name": v}, "leader": {"name": "l-lead", "model": "q"}},
        "spec.admin.name",
        Team,
        "admin_name",
        text,
    ),
    ("Human", lambda v: {"displayName": "Long", "email": v}, "spec.email", Human, "email", email),
]
IDS = [case[2] + f"-{case[0]}" for case in CASES]


@pytest.mark.parametrize(("kind", "spec", "field", "model", "column", "value"), CASES, ids=IDS)
def test_a_value_longer_than_its_column_is_a_422_naming_the_field(admin, kind, spec, field, model, column, value):
    """The row's column limit is the manifest's limit; nothing is half-created."""
    too_long = value(limit(model, column) + 1)
    response = admin.post("/api/v1/apply", manifest(kind, "long-one", spec(too_long)), format="json")
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["field"] == field
    assert body["errors"][0]["rule"] == "max-length"
    assert str(limit(model, column)) in body["message"]
    assert not Worker.objects.filter(name__in=["long-one", "l-lead", "l-dev"]).exists()
    assert not any(kind.objects.filter(name="long-one").exists() for kind in (Team, Human, Manager))


@pytest.mark.parametrize(("kind", "spec", "field", "model", "column", "value"), CASES, ids=IDS)
def test_a_value_as_long_as_its_column_is_stored(admin, kind, spec, field, model, column, value):
    longest = value(limit(model, column))
    response = admin.post("/api/v1/apply", manifest(kind, "long-one", spec(longest)), format="json")
    assert response.status_code == 200, response.content
    stored = model.objects.filter(**{column: longest})
    assert stored.exists()


def test_a_long_model_through_the_workers_endpoint_is_a_422_naming_the_field(admin):
    too_long = text(limit(Worker, "model") + 1)
    response = admin.post("/api/v1/workers", {"name": "long-one", "model": too_long}, format="json")
    assert response.status_code == 422
    assert response.json()["field"] == "spec.model"
    assert not Worker.objects.filter(name="long-one").exists()


def test_a_long_model_in_a_worker_update_is_a_422_naming_the_field(admin):
    too_long = text(limit(Worker, "model") + 1)
    response = admin.put("/api/v1/workers/solo", {"model": too_long}, format="json")
    assert response.status_code == 422
    assert response.json()["field"] == "spec.model"
    assert Worker.objects.get(name="solo").model == "qwen"


def test_a_long_image_is_refused_at_the_column_length(admin):
    image = "registry/" + "a" * (limit(Worker, "image") - len("registry/") + 1)
    response = admin.post("/api/v1/workers", {"name": "long-one", "model": "q", "image": image}, format="json")
    assert response.status_code == 422
    assert response.json()["field"] == "spec.image"


@pytest.mark.parametrize("key", ["worker", "team"])
def test_a_config_push_target_longer_than_its_column_is_a_400_naming_the_field(admin, key):
    too_long = "w" * (limit(Upgrade, "target") + 1)
    response = admin.post("/api/v1/config/push", {key: too_long}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == key
    assert not Upgrade.objects.exists()
