"""Inputs schemathesis found answered with 500: each is now a 400 or 422 naming the field."""

from __future__ import annotations

import pytest

from controller.models import Worker

NUL = "\x00"


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("get", "/api/v1/workers/a%00b", "name"),
        ("delete", "/api/v1/teams/a%00b", "name"),
        ("post", "/api/v1/workers/a%00b/wake", "name"),
        ("get", "/api/v1/workers?phase=%00", "phase"),
        ("get", "/api/v1/workers/status?team=%00", "team"),
    ],
)
def test_a_nul_character_in_the_path_or_query_is_400_naming_the_field(as_persona, method, url, field):
    response = getattr(as_persona("admin"), method)(url)
    assert response.status_code == 400
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/workers", {"name": f"x{NUL}", "model": "qwen"}, "name"),
        ("/api/v1/workers", {"name": "x", "model": "qwen", "team": f"team-a{NUL}"}, "team"),
        ("/api/v1/humans", {"name": "bob", "displayName": "Bob", "note": NUL}, "note"),
    ],
)
def test_a_nul_character_in_a_json_body_is_400_naming_the_field(as_persona, url, body, field):
    response = as_persona("admin").post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_a_nul_character_in_an_applied_manifest_is_400_naming_its_path(as_persona):
    manifest = {"apiVersion": "hiclaw.io/v1beta1", "kind": "Worker", "metadata": {"name": "x"}, "spec": {"soul": NUL}}
    response = as_persona("admin").post("/api/v1/apply", manifest, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "spec.soul"


def test_a_yaml_nul_escape_is_a_manifest_error_naming_the_field(as_persona):
    text = 'apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: x}\nspec: {model: "qwen\\0"}\n'
    response = as_persona("admin").post("/api/v1/apply", text, content_type="application/yaml")
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("spec.model", "nul-character")
    assert not Worker.objects.filter(name="x").exists()


@pytest.mark.parametrize("kind", [{}, ["Worker"]])
def test_a_manifest_kind_that_is_not_a_string_is_an_enum_error(as_persona, kind):
    manifest = {"apiVersion": "hiclaw.io/v1beta1", "kind": kind, "metadata": {"name": "x"}, "spec": {}}
    response = as_persona("admin").post("/api/v1/apply", [manifest], format="json")
    assert response.status_code == 422
    assert response.json()["field"] == "kind"


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("post", "/api/v1/workers", {"name": "x", "model": "qwen", "expose": 5}, "spec.expose"),
        ("put", "/api/v1/workers/solo", {"expose": 5}, "spec.expose"),
        ("put", "/api/v1/teams/team-a", {"workers": 5}, "spec.workers"),
    ],
)
def test_a_flat_list_field_given_a_number_is_a_schema_error(as_persona, method, url, body, field):
    response = getattr(as_persona("admin"), method)(url, body, format="json")
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_team_workers_null_still_means_no_workers(as_persona):
    response = as_persona("admin").put("/api/v1/teams/team-b", {"workers": None}, format="json")
    assert response.status_code == 200
    assert response.json()["workerNames"] == []


@pytest.mark.parametrize("url", ["/api/v1/workers", "/api/v1/debugworkers"])
@pytest.mark.parametrize("team", [["team-a"], {"name": "team-a"}, 5])
def test_a_team_that_is_not_a_name_is_400_for_a_leader(as_persona, url, team):
    response = as_persona("leader-a").post(url, {"name": "x", "model": "qwen", "team": team}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "team"


def test_an_offset_past_bigint_is_an_empty_page(as_persona):
    response = as_persona("admin").get("/api/v1/workers", {"offset": 2**80})
    assert response.status_code == 200
    assert response.json()["workers"] == [] and response.json()["total"] == 6


def test_active_tasks_beyond_the_integer_column_is_400(as_persona):
    response = as_persona("worker-a").post("/api/v1/heartbeats", {"state": "busy", "activeTasks": 2**40}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "activeTasks"
