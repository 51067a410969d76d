"""Hostile input costs little and answers 4xx: YAML alias bombs, deep nesting, odd WebSocket
paths and workspace writes that collide with storage layout never reach a 500 or tie up a
worker process."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from controller.clients.storage import StorageError
from controller.connections import default_connections
from controller.ingest import HeartbeatIngest
from controller.manifests import dump_yaml
from controller.models import AgentToken, Worker
from controller.services.apply import apply_text
from hiclaw_site.asgi import application
from tests.api.conftest import TEAMS, persona_client
from tests.test_heartbeat_ingest import call as heartbeat_call
from tests.ui.websocket import WebsocketCommunicator

# Generous: a refused bomb costs milliseconds; before the fix this one took minutes. Measured
# in CPU seconds of the test's thread (the test client runs the view in it), so a busy
# machine cannot make a fast refusal look slow.
TIME_BOUND = 1.0
YAML = "application/yaml"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs" manifest: each anchor repeats the previous one ``width`` times."""
    lines = ["x0: &x0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"x{level}: &x{level} [" + ", ".join([f"*x{level - 1}"] * width) + "]")
    head = "\n".join(lines)
    body = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: boom}\n"
    body += f"spec: {{model: q, skills: *x{levels - 1}}}\n"
    return f"{head}\n{body}"


@pytest.fixture
def as_persona(db):
    """The API's two teams and standalone worker (tests/api), and a client per persona."""
    apply_text(TEAMS)
    return persona_client


def timed(call):
    started = time.thread_time()
    result = call()
    return result, time.thread_time() - started


# --- YAML aliases -----------------------------------------------------------------------
@pytest.mark.parametrize("persona", ["admin", "leader-a"])
def test_a_yaml_alias_bomb_is_refused_in_milliseconds_naming_the_alias(as_persona, persona):
    text = alias_bomb()
    assert len(text) < 1024
    response, elapsed = timed(lambda: as_persona(persona).post("/api/v1/apply", text, content_type=YAML))
    assert elapsed < TIME_BOUND
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["rule"] == "yaml-alias"
    assert "alias" in error["message"] and "line 2" in error["message"]
    assert not Worker.objects.filter(name="boom").exists()


def test_a_single_harmless_alias_is_refused_too(as_persona):
    text = (
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: aliased}\nspec: {model: &m qwen, identity: *m}\n"
    )
    response = as_persona("admin").post("/api/v1/apply", text, content_type=YAML)
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "yaml-alias"


def test_an_export_never_uses_aliases_so_it_applies_back(as_persona):
    allowed = ["@ops:example.org"]  # one list met twice, as rows built in memory can share them
    spec = {"model": "qwen", "channelPolicy": {"groupAllowExtra": allowed, "dmAllowExtra": allowed}}
    text = dump_yaml(
        [{"apiVersion": "hiclaw.io/v1beta1", "kind": "Worker", "metadata": {"name": "twice"}, "spec": spec}]
    )
    assert "*id" not in text
    response = as_persona("admin").post("/api/v1/apply", text, content_type=YAML)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("persona", ["worker-a", "solo"])
def test_a_caller_who_may_apply_nothing_is_refused_before_the_manifest_is_read(as_persona, persona):
    response, elapsed = timed(lambda: as_persona(persona).post("/api/v1/apply", alias_bomb(), content_type=YAML))
    assert elapsed < TIME_BOUND
    assert response.status_code == 403
    assert "apply" in response.json()["message"]


def test_anonymous_apply_is_refused_before_the_manifest_is_read(as_persona):
    response = as_persona("anonymous").post("/api/v1/apply", "{{{", content_type=YAML)
    assert response.status_code in (401, 403)


# --- deep nesting ---------------------------------------------------------------------------
DEEP = 100_000


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/apply"),
        ("post", "/api/v1/workers"),
        ("put", "/api/v1/workers/solo"),
        ("post", "/api/v1/debugworkers"),
        ("post", "/api/v1/config/push"),
    ],
)
def test_deeply_nested_json_is_a_400_on_json_endpoints(as_persona, method, url):
    body = "[" * DEEP + "]" * DEEP
    response, elapsed = timed(lambda: getattr(as_persona("admin"), method)(url, body, content_type="application/json"))
    assert elapsed < TIME_BOUND
    assert response.status_code == 400
    assert response.json()["field"] == "body" and "nested deeper" in response.json()["message"]


def test_deeply_nested_json_heartbeat_is_a_400(as_persona):
    body = '{"state": ' + "[" * DEEP + "]" * DEEP + "}"
    response = as_persona("worker-a").post("/api/v1/heartbeats", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] == "body" and "nested deeper" in response.json()["message"]


def test_json_nested_past_the_limit_but_within_python_recursion_is_a_400_naming_the_path(as_persona):
    spec = {"model": "qwen", "identity": "x"}
    value: object = "deep"
    for _ in range(200):
        value = [value]
    spec["skills"] = value
    manifest = {"apiVersion": "hiclaw.io/v1beta1", "kind": "Worker", "metadata": {"name": "nested"}, "spec": spec}
    response = as_persona("admin").post("/api/v1/apply", manifest, format="json")
    assert response.status_code == 400
    assert response.json()["field"].startswith("spec.skills[0]")


@pytest.mark.parametrize("depth", [200, DEEP])
def test_deeply_nested_yaml_is_a_422_naming_the_problem(as_persona, depth):
    text = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: deep}\nspec: " + "[" * depth + "]" * depth
    response, elapsed = timed(lambda: as_persona("admin").post("/api/v1/apply", text, content_type=YAML))
    assert elapsed < TIME_BOUND
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["rule"] == "too-deep"
    assert "nested deeper" in error["message"]


# --- WebSocket routing ----------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/nowhere/", "/ws/teams/", "/ws/teams/a/b/c/"])
def test_an_unknown_websocket_path_is_closed_not_a_traceback(path):
    async def scenario():
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        communicator = WebsocketCommunicator(application, path, headers=headers)
        accepted, code = await communicator.connect()
        await communicator.wait(1)
        return accepted, code

    accepted, code = async_to_sync(scenario)()
    assert not accepted
    assert code == 4404


# --- workspace writes that collide with the storage layout ----------------------------------
def test_putting_a_file_onto_a_directory_is_a_409_naming_the_path(as_persona):
    agent = as_persona("worker-a")
    assert agent.put("/api/v1/workspace/files/notes/today.md", b"x", content_type="text/plain").status_code == 201
    response = agent.put("/api/v1/workspace/files/notes", b"y", content_type="text/plain")
    assert response.status_code == 409
    assert response.json()["field"] == "path"
    assert "notes" in response.json()["message"]


def test_putting_a_file_below_a_file_is_a_409_naming_the_path(as_persona):
    agent = as_persona("worker-a")
    assert agent.put("/api/v1/workspace/files/plan.md", b"x", content_type="text/plain").status_code == 201
    response = agent.put("/api/v1/workspace/files/plan.md/inner.md", b"y", content_type="text/plain")
    assert response.status_code == 409
    assert response.json()["field"] == "path"


@pytest.mark.parametrize("method", ["get", "put", "list"])
def test_a_storage_failure_is_a_503_without_internals(as_persona, monkeypatch, method):
    storage = default_connections().storage

    def broken(*args, **kwargs):
        raise StorageError(f"{storage!r}: put 'agents/a-dev/x' failed: Permission denied")

    monkeypatch.setattr(type(storage), "_put", broken)
    monkeypatch.setattr(type(storage), "_get", broken)
    monkeypatch.setattr(type(storage), "_list", broken)
    agent = as_persona("worker-a")
    if method == "get":
        response = agent.get("/api/v1/workspace/files/x.md")
    elif method == "put":
        response = agent.put("/api/v1/workspace/files/x.md", b"x", content_type="text/plain")
    else:
        response = agent.get("/api/v1/workspace/files")
    assert response.status_code == 503
    assert "storage" in response.json()["message"]
    assert str(storage.root) not in response.content.decode()


# --- YAML values Python refuses ---------------------------------------------------------------
def test_an_impossible_date_is_text_not_a_500(as_persona):
    """No manifest field is a date, so YAML's timestamps stay text (2001-13-45 was a ValueError)."""
    text = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: dated}\nspec: {model: 2001-13-45}\n"
    response = as_persona("admin").post("/api/v1/apply", text, content_type=YAML)
    assert response.status_code == 200, response.content
    assert Worker.objects.get(name="dated").model == "2001-13-45"


@pytest.mark.parametrize("value", ["!!int abc", "!!float x"])
def test_a_tagged_value_python_refuses_is_a_422_naming_its_place(as_persona, value):
    text = f"apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {{name: tagged}}\nspec: {{model: {value}}}\n"
    response = as_persona("admin").post("/api/v1/apply", text, content_type=YAML)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["rule"] == "yaml-value" and "line 4" in error["message"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "frame",
    [{"text": "[" * DEEP + "]" * DEEP}, {"text": "not json"}, {"text": '{"type": '}, {"bytes": b"\x00\x01"}],
    ids=["deep", "not-json", "truncated", "binary"],
)
def test_a_malformed_websocket_message_is_ignored_and_the_socket_stays_open(django_user_model, frame):
    user = django_user_model.objects.create_superuser("root", password="pw-root-12345")
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", cookie)]
        socket = WebsocketCommunicator(application, "/ws/overview/", headers=headers)
        connected, _ = await socket.connect()
        assert connected
        assert (await socket.receive_json_from())["type"] == "snapshot"
        await socket.send_input({"type": "websocket.receive", **frame})
        await socket.send_json_to({"type": "snapshot"})
        assert (await socket.receive_json_from())["type"] == "snapshot"
        await socket.disconnect()

    async_to_sync(scenario)()


# --- body size ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "url"), [("post", "/api/v1/apply"), ("post", "/api/v1/workers")])
def test_a_json_body_past_the_manifest_limit_is_a_400_before_it_is_decoded(as_persona, method, url):
    """YAML manifests were limited to 1 MiB; the same documents as JSON were not limited at all."""
    spec = {"model": "qwen", "soul": "x" * (2 * 1024 * 1024)}
    body = {"apiVersion": "hiclaw.io/v1beta1", "kind": "Worker", "metadata": {"name": "huge"}, "spec": spec}
    if url.endswith("workers"):
        body = {"name": "huge", **spec}
    response = getattr(as_persona("admin"), method)(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "body" and "bytes" in response.json()["message"]
    assert not Worker.objects.filter(name="huge").exists()


def test_deeply_nested_json_on_the_heartbeat_fast_path_is_a_400(as_persona):
    """With Redis, heartbeats are answered before Django (controller/ingest.py): same answer."""

    async def django_stand_in(scope, receive, send):
        raise AssertionError("a heartbeat must not reach Django")

    token = AgentToken.mint("worker", "a-dev", team="team-a")[1]
    app = HeartbeatIngest(django_stand_in, "redis://127.0.0.1:1/0")  # refused before Redis is used
    depth = 5000  # within the fast path's body limit, past the JSON decoder's recursion limit
    status, body = heartbeat_call(app, "/api/v1/heartbeats", b"[" * depth + b"]" * depth, token)
    assert status == 400
    assert body["field"] == "body"


def test_an_integer_too_long_for_python_is_a_short_422(as_persona):
    """Python refuses int() of more than 4300 digits; the refusal does not echo them all."""
    text = f"apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {{name: big}}\nspec: {{model: {'9' * 5000}}}\n"
    response = as_persona("admin").post("/api/v1/apply", text, content_type=YAML)
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "yaml-value"
    assert len(response.content) < 2000
