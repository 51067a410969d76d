"""Dashboard actions: confirmed POSTs through the operations service and the one policy."""

from __future__ import annotations

import time

import pytest

from controller.models import AuditRecord, DebugWorker, Team, Worker
from controller.services.apply import apply_text
from debugui import actions

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def post(client, url: str, confirmed: bool = True, **data):
    return client.post(url, {**data, **({"confirmed": "1"} if confirmed else {})}, **JSON)


def member(team: str, name: str) -> dict:
    spec = Team.objects.get(name=team).spec
    return next(m for m in [spec["leader"], *spec["workers"]] if m["name"] == name)


def test_team_admin_puts_a_worker_to_sleep_and_wakes_it(login_client):
    client = login_client("alice")
    answer = post(client, "/workers/a-dev/sleep/")
    assert answer.status_code == 200 and answer.json()["ok"]
    assert "desired state Sleeping" in answer.json()["message"]
    assert member("team-a", "a-dev")["state"] == "Sleeping"
    assert Worker.objects.get(name="a-dev").state == "Sleeping"
    record = AuditRecord.objects.get(action="state:Sleeping")
    assert (record.actor, record.identity, record.target_name) == ("alice", "team-admin", "a-dev")
    assert post(client, "/workers/a-dev/wake/").json()["ok"]
    assert member("team-a", "a-dev")["state"] == "Running"


def test_an_unconfirmed_action_asks_on_a_page_and_changes_nothing(login_client):
    page = login_client("alice").post("/workers/a-dev/sleep/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Put a-dev to sleep?" in html and 'name="confirmed" value="1"' in html
    assert Worker.objects.get(name="a-dev").state == "Running"


def test_a_confirmed_action_without_javascript_redirects_back_with_a_message(login_client):
    client = login_client("alice")
    answer = client.post("/workers/a-dev/sleep/", {"confirmed": "1", "next": "/teams/team-a/"})
    assert answer.status_code == 302 and answer["Location"] == "/teams/team-a/"
    assert "a-dev: sleeping" in client.get("/teams/team-a/").content.decode()
    # An outside "next" is not followed.
    elsewhere = client.post("/workers/a-dev/wake/", {"confirmed": "1", "next": "https://example.org/"})
    assert elsewhere["Location"] == "/workers/a-dev/"


def test_actions_need_post_and_a_login(client, login_client):
    assert login_client("alice").get("/workers/a-dev/sleep/").status_code == 405
    assert client.post("/workers/a-dev/sleep/", {"confirmed": "1"}).status_code == 302
    assert Worker.objects.get(name="a-dev").state == "Running"


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("wake", {}),
        ("sleep", {}),
        ("ensure-ready", {}),
        ("image", {"image": "hiclaw/x:2"}),
        ("model", {"model": "qwen"}),
    ],
)
@pytest.mark.parametrize(
    ("login", "worker"), [("alice", "b-dev"), ("alice", "solo"), ("bob", "a-dev"), ("carol", "a-qa")]
)
def test_every_worker_action_is_refused_outside_the_logins_teams(login_client, action, data, login, worker):
    before = Worker.objects.get(name=worker)
    answer = post(login_client(login), f"/workers/{worker}/{action}/", **data)
    assert answer.status_code == 404
    after = Worker.objects.get(name=worker)
    assert (after.state, after.image, after.model, after.generation) == (
        before.state,
        before.image,
        before.model,
        before.generation,
    )
    assert not AuditRecord.objects.exists()


def test_debugworker_actions_are_refused_outside_the_logins_teams(login_client):
    apply_text(
        "apiVersion: hiclaw.io/v1beta1\nkind: DebugWorker\nmetadata: {name: b-debug}\n"
        "spec: {target: {type: team, name: team-b}}\n"
    )
    alice = login_client("alice")
    assert post(alice, "/teams/team-b/debugworkers/", name="sneaky").status_code == 404
    assert post(alice, "/debug/b-debug/delete/").status_code == 404
    assert not DebugWorker.objects.filter(name="sneaky").exists()
    assert DebugWorker.objects.get(name="b-debug").deletion_requested_at is None


@pytest.mark.parametrize(
    ("value", "status", "text"),
    [
        ("Not An Image!", 400, "image: must be an image reference"),
        ("", 400, "image: This field is required."),
    ],
)
def test_an_invalid_image_is_refused_with_the_field_message(login_client, value, status, text):
    answer = post(login_client("alice"), "/workers/a-dev/image/", image=value)
    assert answer.status_code == status
    assert answer.json()["field"] == "image" and answer.json()["message"].startswith(text)
    assert "image" not in member("team-a", "a-dev")


def test_an_invalid_image_without_javascript_is_shown_beside_the_field(login_client):
    page = login_client("alice").post("/workers/a-dev/image/", {"image": "Not An Image!", "confirmed": "1"})
    html = page.content.decode()
    assert page.status_code == 400
    assert 'class="field-error" role="alert"' in html and "must be an image reference" in html


def test_a_valid_image_goes_into_the_team_spec(login_client):
    answer = post(login_client("alice"), "/workers/a-dev/image/", image="registry:5000/hiclaw/worker-agent:1.5.0")
    assert answer.json()["ok"], answer.json()
    assert member("team-a", "a-dev")["image"] == "registry:5000/hiclaw/worker-agent:1.5.0"


@pytest.mark.parametrize(
    ("value", "status", "field", "text"),
    [
        ("qwen max", 400, "model", "model: must be a model name"),
        ("gpt-9", 422, "model", "model: gpt-9 is not allowed for team team-a; allowed models: qwen, claude"),
    ],
)
def test_an_invalid_or_disallowed_model_is_refused_with_the_message(login_client, value, status, field, text):
    answer = post(login_client("alice"), "/workers/a-dev/model/", model=value)
    assert answer.status_code == status
    assert answer.json().get("field", "") == field
    assert answer.json()["message"] == text or answer.json()["message"].startswith(text)
    assert member("team-a", "a-dev")["model"] == "qwen"


def test_a_model_change_is_refused_when_the_team_forbids_it(login_client):
    team = Team.objects.get(name="team-b")
    spec = team.spec
    spec["leader"]["permissions"] = {"canSwitchModel": False}
    Team.objects.filter(pk=team.pk).update(spec=spec)
    answer = post(login_client("bob"), "/workers/b-dev/model/", model="claude")
    assert answer.status_code == 403
    assert answer.json()["message"] == (
        "Team team-b does not let team-admin bob change a model (permissions.canSwitchModel false); an admin can"
    )
    assert "canSwitchModel is false" in login_client("bob").get("/workers/b-dev/").content.decode()


def test_a_model_change_within_the_allowed_models_is_applied(login_client):
    assert post(login_client("alice"), "/workers/a-dev/model/", model="claude").json()["ok"]
    assert member("team-a", "a-dev")["model"] == "claude"


def test_ensure_ready_answers_at_once_for_a_running_worker(login_client):
    answer = post(login_client("alice"), "/workers/a-dev/ensure-ready/")
    assert answer.json() == {"ok": True, "message": "a-dev is ready (phase Running)."}


def test_ensure_ready_wakes_a_sleeping_worker_and_does_not_wait_long(login_client, monkeypatch):
    monkeypatch.setattr(actions, "ENSURE_READY_WAIT", 0.3)
    Worker.objects.filter(name="a-qa").update(phase="Sleeping")
    post(login_client("alice"), "/workers/a-qa/sleep/")
    answer = post(login_client("alice"), "/workers/a-qa/ensure-ready/")
    assert answer.json()["ok"]
    assert "not running yet (phase Sleeping)" in answer.json()["message"]
    assert member("team-a", "a-qa")["state"] == "Running"


def test_ensure_ready_of_a_worker_removed_while_waiting_is_404_as_in_the_api(login_client, monkeypatch):
    def removed_meanwhile(seconds: float) -> None:
        Worker.objects.filter(name="a-qa").delete()

    Worker.objects.filter(name="a-qa").update(phase="Sleeping")
    monkeypatch.setattr(time, "sleep", removed_meanwhile)
    answer = post(login_client("alice"), "/workers/a-qa/ensure-ready/")
    assert answer.status_code == 404
    assert answer.json() == {"ok": False, "message": "worker/a-qa not found"}


def test_team_admin_creates_and_deletes_a_debugworker_for_the_team(login_client):
    client = login_client("alice")
    answer = post(client, "/teams/team-a/debugworkers/", name="a-look")
    assert answer.json()["ok"], answer.json()
    debugworker = DebugWorker.objects.get(name="a-look")
    assert debugworker.spec["target"] == {"type": "team", "name": "team-a"}
    assert debugworker.team_name == "team-a"
    assert AuditRecord.objects.filter(action="apply:created", target_name="a-look", identity="team-admin").exists()
    taken = post(client, "/teams/team-a/debugworkers/", name="a-look")
    assert taken.status_code == 409 and taken.json()["field"] == "name"
    assert post(client, "/debug/a-look/delete/").json()["ok"]
    assert DebugWorker.objects.get(name="a-look").deletion_requested_at is not None


def test_a_debugworker_name_must_be_a_dns_label(login_client):
    answer = post(login_client("alice"), "/teams/team-a/debugworkers/", name="Not_Valid")
    assert answer.status_code == 400 and answer.json()["field"] == "name"
