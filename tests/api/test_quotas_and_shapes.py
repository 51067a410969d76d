"""Quotas on leaders, the API's shapes (manifest + flat fields), errors, apply and compat bodies."""

from __future__ import annotations

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controller.models import AuditRecord, DebugWorker, Human, Team, Upgrade, Worker
from controller.services.apply import apply_text
from tests.api.conftest import persona_client
from tests.helpers import manifest, to_yaml


def test_max_workers_reached_is_422_with_the_numbers(as_persona):
    leader = as_persona("leader-a")
    created = leader.post("/api/v1/workers", {"name": "a-3", "model": "qwen", "team": "team-a"}, format="json")
    assert created.status_code == 201
    response = leader.post("/api/v1/workers", {"name": "a-4", "model": "qwen", "team": "team-a"}, format="json")
    assert response.status_code == 422
    assert "used 3/max 3" in response.json()["message"]
    assert not Worker.objects.filter(name="a-4").exists()


def test_model_outside_allowed_models_is_refused(as_persona):
    response = as_persona("leader-a").post(
        "/api/v1/workers", {"name": "a-3", "model": "gpt-9", "team": "team-a"}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["message"] == "model: gpt-9 is not allowed for team team-a; allowed models: qwen, claude"
    assert response.json()["field"] == "model"
    assert not Worker.objects.filter(name="a-3").exists()


def test_can_scale_workers_false_is_403(as_persona):
    team = Team.objects.get(name="team-a")
    spec = team.spec
    spec["leader"]["permissions"]["canScaleWorkers"] = False
    Team.objects.filter(pk=team.pk).update(spec=spec)
    response = as_persona("leader-a").post(
        "/api/v1/workers", {"name": "a-3", "model": "qwen", "team": "team-a"}, format="json"
    )
    assert response.status_code == 403
    assert "canScaleWorkers false" in response.json()["message"]


def test_can_switch_model_false_refuses_a_model_change(as_persona):
    team = Team.objects.get(name="team-a")
    spec = team.spec
    spec["leader"]["permissions"]["canSwitchModel"] = False
    Team.objects.filter(pk=team.pk).update(spec=spec)
    leader = as_persona("leader-a")
    refused = leader.put("/api/v1/workers/a-dev", {"model": "claude"}, format="json")
    assert refused.status_code == 403 and "canSwitchModel" in refused.json()["message"]
    assert leader.put("/api/v1/workers/a-dev", {"soul": "ok"}, format="json").status_code == 200


def test_admin_is_held_to_max_workers_by_the_team_spec(as_persona):
    admin = as_persona("admin")
    admin.post("/api/v1/workers", {"name": "a-3", "model": "qwen", "team": "team-a"}, format="json")
    response = admin.post("/api/v1/workers", {"name": "a-4", "model": "qwen", "team": "team-a"}, format="json")
    assert response.status_code == 422 and "used 4/max 3" in response.json()["message"]


def test_worker_shape_has_manifest_and_flat_fields(as_persona):
    body = as_persona("admin").get("/api/v1/workers/a-dev").json()
    assert body["apiVersion"] == "hiclaw.io/v1beta1" and body["kind"] == "Worker"
    assert body["metadata"]["annotations"]["hiclaw.io/team"] == "team-a"
    assert body["metadata"]["generation"] == 1 and "creationTimestamp" in body["metadata"]
    assert body["status"]["phase"] == "Pending"
    assert {key: body[key] for key in ("name", "phase", "model", "team", "role", "runtime")} == {
        "name": "a-dev",
        "phase": "Pending",
        "model": "qwen",
        "team": "team-a",
        "role": "worker",
        "runtime": "openclaw",
    }


def test_yaml_export_applies_back_unchanged(as_persona):
    admin = as_persona("admin")
    exported = admin.get("/api/v1/teams/team-a").json()
    exported = {key: exported[key] for key in ("apiVersion", "kind", "metadata", "spec", "status")}
    response = admin.post("/api/v1/apply", yaml.safe_dump(exported), content_type="application/yaml")
    assert response.json()["results"] == [{"kind": "Team", "name": "team-a", "action": "unchanged"}]


def test_list_pagination(as_persona):
    admin = as_persona("admin")
    first = admin.get("/api/v1/workers?limit=2").json()
    assert (first["total"], len(first["workers"])) == (6, 2)
    assert "offset=2" in first["next"] and "limit=2" in first["next"]
    second = admin.get(first["next"]).json()
    assert [w["name"] for w in second["workers"]] == ["a-qa", "b-dev"]
    last = admin.get("/api/v1/workers?limit=2&offset=4").json()
    assert last["next"] is None
    bad = admin.get("/api/v1/workers?limit=many")
    assert bad.status_code == 400 and bad.json()["field"] == "limit"


def test_filters_by_team_and_phase(as_persona):
    admin = as_persona("admin")
    names = {w["name"] for w in admin.get("/api/v1/workers?team=team-b").json()["workers"]}
    assert names == {"b-lead", "b-dev"}
    Worker.objects.filter(name="solo").update(phase="Running")
    assert [w["name"] for w in admin.get("/api/v1/workers?phase=Running").json()["workers"]] == ["solo"]


def test_invalid_manifest_through_the_api_names_the_field(as_persona):
    text = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: x}\nspec: {model: q, runtime: vm}\n"
    response = as_persona("admin").post("/api/v1/apply", text, content_type="application/yaml")
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "spec.runtime" and body["errors"][0]["rule"] == "enum"
    assert not Worker.objects.filter(name="x").exists()


def test_apply_json_and_dry_run(as_persona):
    worker = manifest("Worker", "j", {"model": "q"})
    admin = as_persona("admin")
    dry = admin.post("/api/v1/apply?dryRun=true", worker, format="json").json()
    assert dry == {"results": [{"kind": "Worker", "name": "j", "action": "created"}], "dryRun": True}
    assert not Worker.objects.filter(name="j").exists()
    assert admin.post("/api/v1/apply", [worker], format="json").status_code == 200
    assert Worker.objects.filter(name="j").exists()


def test_original_cli_bodies_are_accepted(as_persona):
    admin = as_persona("admin")
    created = admin.post(
        "/api/v1/workers",
        {"name": "legacy", "model": "qwen", "expose": ["8080", 9090], "mcpServers": [{"name": "github"}]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    spec = Worker.objects.get(name="legacy").spec
    assert spec["expose"] == [{"port": 8080, "protocol": "http"}, {"port": 9090, "protocol": "http"}]
    assert spec["mcpServers"] == ["github"]
    again = admin.post("/api/v1/workers", {"name": "legacy", "model": "qwen"}, format="json")
    assert again.status_code == 409

    team = admin.post(
        "/api/v1/teams",
        {"name": "team-c", "leaderName": "c-lead", "leaderModel": "qwen", "workers": ["c-1"]},
        format="json",
    )
    assert team.status_code == 201, team.json()
    assert Worker.objects.get(name="c-1").team.name == "team-c"
    human = admin.post("/api/v1/humans", {"name": "bob", "displayName": "Bob", "permissionLevel": 3}, format="json")
    form = admin.post("/api/v1/humans", {"name": "eve", "displayName": "Eve"})
    assert form.status_code == 415
    assert human.status_code == 201 and human.json()["permissionLevel"] == 3
    password = human.json()["initialPassword"]
    assert password == Human.objects.get(name="bob").initial_password()
    assert "initialPassword" not in admin.get("/api/v1/humans/bob").json()
    manager = admin.put("/api/v1/managers/default", {"model": "qwen-max"}, format="json")
    assert manager.status_code == 200 and manager.json()["model"] == "qwen-max"


def test_leader_deleting_a_member_removes_it_from_the_team(as_persona):
    assert as_persona("leader-a").delete("/api/v1/workers/a-qa").status_code == 202
    team = Team.objects.get(name="team-a")
    assert [w["name"] for w in team.spec["workers"]] == ["a-dev"]
    assert Worker.objects.get(name="a-qa").deletion_requested_at is not None
    refused = as_persona("leader-a").delete("/api/v1/workers/a-lead")
    assert refused.status_code == 403 and "delete the Team instead" in refused.json()["message"]


def test_mutations_are_audited(as_persona):
    as_persona("leader-a").post("/api/v1/workers/a-dev/sleep")
    record = AuditRecord.objects.get(action="state:Sleeping")
    assert (record.actor, record.identity, record.team, record.target_name) == (
        "a-lead",
        "team-leader",
        "team-a",
        "a-dev",
    )
    assert not AuditRecord.objects.filter(action__startswith="view").exists()


def test_leader_debugworker_gets_its_team_and_credential(as_persona):
    Worker.objects.filter(name="a-lead").update(matrix_user_id="@a-lead:hs.test", matrix_access_token="syt_lead")
    response = as_persona("leader-a").post(
        "/api/v1/debugworkers", {"name": "dbg-a", "targets": ["b-dev"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    debug = DebugWorker.objects.get(name="dbg-a")
    assert debug.spec["target"] == {"type": "team", "name": "team-a"} and "targets" not in debug.spec
    assert debug.spec["matrixCredential"] == {"userID": "@a-lead:hs.test"}
    assert debug.matrix_access_token == "syt_lead"
    assert "syt_lead" not in response.content.decode()
    assert as_persona("leader-b").get("/api/v1/debugworkers/dbg-a").status_code == 404
    assert as_persona("worker-a").post("/api/v1/debugworkers", {"name": "dbg-w"}, format="json").status_code == 403


def test_config_push_is_recorded(as_persona):
    response = as_persona("leader-a").post("/api/v1/config/push", {"team": "team-a"}, format="json")
    assert response.status_code == 202
    push = Upgrade.objects.get(pk=response.json()["id"])
    assert (push.kind, push.scope, push.team) == ("push", "team", "team-a")
    assert list(push.targets.values_list("worker", flat=True)) == ["a-dev", "a-lead", "a-qa"]
    assert as_persona("leader-a").post("/api/v1/config/push", {"all": True}, format="json").status_code == 403
    both = as_persona("admin").post("/api/v1/config/push", {"team": "team-a", "all": True}, format="json")
    assert both.status_code == 400


def test_status_and_version(as_persona):
    status = as_persona("admin").get("/api/v1/status").json()
    assert status["resources"]["Worker"] == {"Pending": 6} and status["backend"] == "process"
    assert as_persona("worker-a").get("/api/v1/status").json()["resources"]["Worker"] == {"Pending": 1}
    assert as_persona("solo").get("/api/v1/version").json()["apiVersion"] == "hiclaw.io/v1beta1"


def test_idle_check_reports_time_left(as_persona):
    worker = Worker.objects.get(name="a-dev")
    worker.record_heartbeat("idle")
    lines = as_persona("leader-a").get("/api/v1/workers/idle-check?team=team-a").json()["workers"]
    line = next(entry for entry in lines if entry["name"] == "a-dev")
    assert line["idleTimeoutSeconds"] == 720 * 60
    assert 720 * 60 - 5 <= line["secondsLeft"] <= 720 * 60


@pytest.mark.django_db
def test_session_users_are_scoped_like_their_role(client, django_user_model):
    apply_text(
        "apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {name: t}\n"
        "spec: {admin: {name: carol}, leader: {name: t-lead, model: q}}\n"
    )
    carol = django_user_model.objects.create_user("carol", password="pw-carol-123")
    client.force_login(carol)
    assert [w["name"] for w in client.get("/api/v1/workers").json()["workers"]] == ["t-lead"]
    nobody = django_user_model.objects.create_user("dave", password="pw-dave-1234")
    client.force_login(nobody)
    assert client.get("/api/v1/workers").json()["workers"] == []


def test_token_auth_errors(world):
    anonymous = persona_client("anonymous")
    assert anonymous.get("/api/v1/workers").status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION="Token abc")
    response = anonymous.get("/api/v1/workers")
    assert response.status_code == 401 and "Bearer" in response.json()["message"]


@pytest.mark.parametrize("plural", ["workers", "teams"])
def test_list_queries_do_not_grow_with_the_number_of_resources(as_persona, plural):
    admin = as_persona("admin")

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert admin.get(f"/api/v1/{plural}").status_code == 200
        return len(context.captured_queries)

    before = queries()
    teams = [
        manifest(
            "Team",
            f"extra-{i}",
            {"leader": {"name": f"extra-{i}-lead", "model": "q"}, "workers": [{"name": f"extra-{i}-w", "model": "q"}]},
        )
        for i in range(8)
    ]
    apply_text(to_yaml(*teams))
    assert queries() == before
