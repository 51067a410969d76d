"""Lenient input: what a request names must exist and have the type its field says.

``POST /config/push`` took unknown workers and teams and wrong types with 202
and empty targets; ``permissionLevel: true`` was read as 1; an admin could
create a DebugWorker for a team that does not exist. Each is now a 404 or 422
naming the field, and nothing is recorded.
"""

from __future__ import annotations

import typing
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from controller.manifests import ManifestInvalid, parse_objects
from controller.manifests.schema import SPEC_SHAPES, Metadata
from controller.models import DebugWorker, Human, Upgrade
from controller.services.apply import apply_text
from tests.api.conftest import TEAMS, persona_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    apply_text(TEAMS)
    return persona_client("admin")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"worker": "ghost"}, 404, "worker"),
        ({"team": "ghost"}, 404, "team"),
        ({"worker": 5}, 422, "worker"),
        ({"worker": ["a-dev"]}, 422, "worker"),
        ({"team": {"name": "team-a"}}, 422, "team"),
        ({"team": True}, 422, "team"),
        ({"all": "yes"}, 422, "all"),
        ({"all": 1}, 422, "all"),
    ],
)
def test_config_push_refuses_unknown_targets_and_wrong_types(admin, body, status, field):
    response = admin.post("/api/v1/config/push", body, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["field"] == field
    assert field in response.json()["message"]
    assert not Upgrade.objects.exists()


def test_config_push_to_a_known_worker_still_works(admin):
    response = admin.post("/api/v1/config/push", {"worker": "a-dev"}, format="json")
    assert response.status_code == 202
    assert response.json()["targets"] == ["a-dev"]


@pytest.mark.parametrize("route", ["apply", "flat"])
def test_a_boolean_permission_level_is_not_taken_as_1(admin, route):
    if route == "apply":
        manifest = {
            "apiVersion": "hiclaw.io/v1beta1",
            "kind": "Human",
            "metadata": {"name": "eve"},
            "spec": {"displayName": "Eve", "permissionLevel": True},
        }
        response = admin.post("/api/v1/apply", manifest, format="json")
    else:
        response = admin.post(
            "/api/v1/humans", {"name": "eve", "displayName": "Eve", "permissionLevel": True}, format="json"
        )
    assert response.status_code == 422, response.json()
    assert response.json()["field"] == "spec.permissionLevel"
    assert not Human.objects.filter(name="eve").exists()


def _shapes() -> list[type[BaseModel]]:
    """Every model reachable from the manifest shapes."""
    found, todo = [], [Metadata, *SPEC_SHAPES.values()]
    while todo:
        shape = todo.pop()
        if shape in found:
            continue
        found.append(shape)
        for field in shape.model_fields.values():
            todo.extend(_models_in(field.annotation))
    return found


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _int_fields() -> list[tuple[str, str, TypeAdapter]]:
    """(shape, field, validator) of every field that takes a whole number."""
    fields = []
    for shape in _shapes():
        for name, info in shape.model_fields.items():
            if _models_in(info.annotation):
                continue
            annotated = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            adapter = TypeAdapter(annotated, config=ConfigDict(strict=True))
            for number in (1, 2, 3, 80):
                try:
                    adapter.validate_python(number)
                except ValidationError:
                    continue
                fields.append((shape.__name__, name, adapter))
                break
    return fields


INT_FIELDS = _int_fields()


def test_the_manifest_shapes_have_whole_number_fields_to_check():
    names = {f"{shape}.{field}" for shape, field, _ in INT_FIELDS}
    assert {"HumanSpec.permission_level", "ExposePort.port", "Permissions.max_workers"} <= names


@pytest.mark.parametrize(("shape", "field", "adapter"), INT_FIELDS, ids=[f"{s}.{f}" for s, f, _ in INT_FIELDS])
@pytest.mark.parametrize("value", [True, False])
def test_no_manifest_field_takes_a_boolean_for_a_number(shape, field, adapter, value):
    with pytest.raises(ValidationError):
        adapter.validate_python(value)


def test_a_boolean_permission_level_is_a_manifest_error_naming_the_field():
    manifest = {"apiVersion": "hiclaw.io/v1beta1", "kind": "Human", "metadata": {"name": "eve"}}
    with pytest.raises(ManifestInvalid) as caught:
        parse_objects([{**manifest, "spec": {"displayName": "Eve", "permissionLevel": True}}])
    assert caught.value.errors[0].field == "spec.permissionLevel"
    assert (
        parse_objects([{**manifest, "spec": {"displayName": "Eve", "permissionLevel": 1}}])[0].spec["permissionLevel"]
        == 1
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "dbg-x", "team": "ghost"}, "team"),
        ({"name": "dbg-x", "target": {"type": "team", "name": "ghost"}}, "target.name"),
        ({"name": "dbg-x", "target": {"type": "worker", "name": "ghost"}}, "target.name"),
        ({"name": "dbg-x", "targets": ["a-dev", "ghost"]}, "targets"),
    ],
)
def test_an_admin_cannot_create_a_debugworker_for_what_does_not_exist(admin, body, field):
    response = admin.post("/api/v1/debugworkers", body, format="json")
    assert response.status_code == 404, response.json()
    assert response.json()["field"] == field
    assert "ghost" in response.json()["message"]
    assert not DebugWorker.objects.exists()


def test_an_admin_still_creates_a_debugworker_for_a_team_that_exists(admin):
    response = admin.post("/api/v1/debugworkers", {"name": "dbg-x", "team": "team-b"}, format="json")
    assert response.status_code == 201, response.json()
    assert DebugWorker.objects.get(name="dbg-x").team_name == "team-b"
