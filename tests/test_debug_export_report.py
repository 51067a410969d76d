"""Debug exports and reports against real services: Synapse for the rooms, S3 (moto) for the files.

A team leader and a worker talk in a real room; the DebugWorker holds the
leader's credential, as a leader's DebugWorker does. Secrets of every kind are
planted in a workspace file, a Matrix message and a heartbeat note, and must
not appear in anything written.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from controller.clients.storage import Storage, storage_from_url
from controller.connections import Connections, default_connections
from controller.models import AuditRecord, DebugJob, DebugWorker, Heartbeat, Worker
from controller.services import debug_export, debug_runs
from controller.services.apply import apply_text
from tests.helpers import free_port, manifest, to_yaml

TEAM = """
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-a}
spec:
  leader: {name: a-lead, model: qwen}
  workers:
    - {name: a-dev, model: qwen}
    - {name: a-qa, model: qwen}
"""
AWS_KEY = "AKIAABCDEFGHIJKLMNOP"
SECRETS = {
    "hiclaw token": "hct_PlantedTokenValue0123456789",
    "synapse token": "syt_cGxhbnRlZA_PlantedSynapse_0a1b2c",
    "bearer": "PlantedBearerCredential.xyz123",
    "json password": "planted-json-password-42",
    "env secret": "planted-env-secret-99",
    "aws key": AWS_KEY,
    "private key": "MIIEplantedPRIVATEKEYmaterial",
    "gateway key": "gw-planted-consumer-key-77",
}
PLANTED_TEXT = f"""# notes
token in prose: {SECRETS["hiclaw token"]}
synapse: {SECRETS["synapse token"]}
curl -H "Authorization: Bearer {SECRETS["bearer"]}"
{{"user": "a-dev", "password": "{SECRETS["json password"]}"}}
API_SECRET={SECRETS["env secret"]}
aws {AWS_KEY}
-----BEGIN RSA PRIVATE KEY-----
{SECRETS["private key"]}
-----END RSA PRIVATE KEY-----
"""


@pytest.fixture
def services(synapse, s3_storage_url) -> Connections:
    embedded = default_connections()
    return Connections(
        backend=embedded.backend,
        storage=storage_from_url(s3_storage_url),
        matrix=synapse.client(),
        gateway=embedded.gateway,
        admin_session=synapse.admin,
    )


@pytest.fixture
def team(db, services):
    """team-a with Matrix accounts for its leader and a-dev, a room where they talked, and a
    DebugWorker holding the leader's credential that mounts the team's workspaces."""
    apply_text(TEAM)
    matrix = services.require_matrix()
    suffix = uuid.uuid4().hex[:6]
    lead = matrix.register(f"a-lead-{suffix}", "pw-lead")
    dev = matrix.register(f"a-dev-{suffix}", "pw-dev")
    Worker.objects.filter(name="a-lead").update(matrix_user_id=lead.user_id)
    Worker.objects.filter(name="a-dev").update(matrix_user_id=dev.user_id, matrix_access_token=dev.access_token)
    room = matrix.create_room(lead, name="Team A", invite=[dev.user_id])
    matrix.join(dev, room)
    matrix.send_message(lead, room, f"a-dev, please fix the build {dev.user_id}")
    matrix.send_message(dev, room, f"on it; my token is {SECRETS['synapse token']} and {lead.access_token}")
    spec = {
        "target": {"type": "team", "name": "team-a"},
        "matrixCredential": {"userID": lead.user_id, "accessToken": lead.access_token},
    }
    apply_text(to_yaml(manifest("DebugWorker", "a-debug", spec, annotations={"hiclaw.io/team": "team-a"})))
    DebugWorker.objects.filter(name="a-debug").update(
        mounted_workspaces=[{"worker": w, "storagePath": f"agents/{w}/"} for w in ("a-lead", "a-dev", "a-qa")]
    )
    return {"matrix": matrix, "lead": lead, "dev": dev, "room": room}


def start(kind: str, hours: int = 2, worker: str = "") -> DebugJob:
    debugworker = DebugWorker.objects.get(name="a-debug")
    return DebugJob.objects.create(debugworker=debugworker, kind=kind, hours=hours, worker=worker, requested_by="test")


def written(storage: Storage, keys: list[str]) -> str:
    return "\n".join(storage.get(key).decode() for key in keys)


def assert_no_secret(text: str, *extra: str) -> None:
    for name, secret in [*SECRETS.items(), *(("known", value) for value in extra)]:
        assert secret not in text, f"{name} leaked"


# --- export ----------------------------------------------------------------------------------
def test_the_export_holds_the_messages_sent_into_the_room(team, services, monkeypatch):
    job = start("export")
    assert job.state == "Queued"
    seen_while_writing = []
    put = services.storage.put

    def observed_put(key, data, content_type="application/octet-stream"):
        # What a follower of the job sees while it writes: Running.
        seen_while_writing.append(DebugJob.objects.get(pk=job.pk).state)
        put(key, data, content_type)

    monkeypatch.setattr(services.storage, "put", observed_put)
    debug_runs.run(str(job.pk), services)
    job.refresh_from_db()
    assert (job.state, job.progress) == ("Done", 100), job.message
    assert seen_while_writing and set(seen_while_writing) == {"Running"}
    assert job.started_at <= job.finished_at and job.message == f"{len(job.outputs)} file(s) written"
    (key,) = [key for key in job.outputs if team["room"].replace("!", "_").split(":")[0] in key]
    assert key.startswith("debug/a-debug/matrix-export/") and key.endswith(".json")
    document = json.loads(services.storage.get(key))
    assert (document["roomId"], document["name"], document["hours"]) == (team["room"], "Team A", 2)
    bodies = [event.get("body") for event in document["events"] if event["type"] == "m.room.message"]
    assert bodies[0] == f"a-dev, please fix the build {team['dev'].user_id}"
    assert bodies[1].startswith("on it; my token is [redacted]")
    senders = [event["sender"] for event in document["events"] if event["type"] == "m.room.message"]
    assert senders == [team["lead"].user_id, team["dev"].user_id]
    assert all(event["time"].endswith("+00:00") for event in document["events"])
    assert_no_secret(written(services.storage, job.outputs), team["lead"].access_token)


def test_the_window_leaves_older_messages_out(team, services):
    matrix, lead, room = team["matrix"], team["lead"], team["room"]
    time.sleep(1.1)
    since = timezone.now()
    matrix.send_message(lead, room, "after the cut")
    history = debug_export.read_room(matrix, lead, room, since, max_events=100, max_bytes=10**6)
    assert [event.get("body") for event in history.events] == ["after the cut"]
    assert history.truncated == ""


def test_a_room_is_cut_at_its_bound_and_says_so(team, services):
    matrix, lead, room = team["matrix"], team["lead"], team["room"]
    for n in range(8):
        matrix.send_message(lead, room, f"filler {n}")
    since = timezone.now() - timedelta(hours=1)
    history = debug_export.read_room(matrix, lead, room, since, max_events=3, max_bytes=10**6)
    assert [event["body"] for event in history.events] == ["filler 5", "filler 6", "filler 7"]
    assert "stopped after 3 events" in history.truncated
    small = debug_export.read_room(matrix, lead, room, since, max_events=100, max_bytes=400)
    assert small.size <= 400 and small.truncated


def test_an_export_without_a_credential_fails_and_says_why(team, services):
    DebugWorker.objects.filter(name="a-debug").update(matrix_access_token="")
    job = debug_runs.run(str(start("export").pk), services)
    assert job is not None and job.state == "Failed"
    assert "no Matrix credential" in job.message
    assert not list(services.storage.list("debug/a-debug/"))


def test_an_export_with_a_revoked_credential_fails_and_says_why(team, services):
    DebugWorker.objects.filter(name="a-debug").update(matrix_access_token="syt_revoked_0123456789")
    job = debug_runs.run(str(start("export").pk), services)
    assert job is not None and job.state == "Failed"
    assert "is no longer valid" in job.message and "syt_revoked" not in job.message


def test_an_export_with_the_storage_down_fails(team, services):
    down = Connections(
        backend=services.backend,
        storage=storage_from_url(f"s3://k:s@127.0.0.1:{free_port()}/nowhere?secure=false"),
        matrix=services.matrix,
        gateway=services.gateway,
    )
    job = debug_runs.run(str(start("export").pk), down)
    assert job is not None and job.state == "Failed"
    assert job.message.startswith("StorageError:") and job.finished_at is not None


def test_a_job_delivered_twice_runs_once(team, services):
    job = start("export")
    first = debug_runs.run(str(job.pk), services)
    assert first is not None and first.state == "Done"
    before = {info.key: info.etag for info in services.storage.list("debug/a-debug/")}
    second = debug_runs.run(str(job.pk), services)
    assert second is not None and (second.state, second.finished_at) == ("Done", first.finished_at)
    assert {info.key: info.etag for info in services.storage.list("debug/a-debug/")} == before


def test_a_job_left_running_by_a_dead_worker_runs_again_when_redelivered(team, services):
    job = start("export")
    # Its worker marked it Running, then died before writing anything.
    DebugJob.objects.filter(pk=job.pk).update(state="Running", started_at=timezone.now())
    again = debug_runs.run(str(job.pk), services)
    assert again is not None and again.state == "Done" and again.outputs
    assert all(services.storage.exists(key) for key in again.outputs)


# --- report ----------------------------------------------------------------------------------
def plant_workspace(storage: Storage) -> None:
    storage.put("agents/a-dev/SOUL.md", b"# a-dev\nBuild things carefully.\n")
    storage.put("agents/a-dev/notes.md", PLANTED_TEXT.encode())
    config = {"matrix": {"userId": "@a-dev:hs", "accessToken": "x" * 8}, "gateway": {"apiKey": SECRETS["gateway key"]}}
    storage.put("agents/a-dev/openclaw.json", json.dumps(config, indent=2).encode())  # as the reconciler writes it
    storage.put("agents/a-dev/huge.log", b"x" * 300_000 + b"\nTHE END\n")
    storage.put("agents/a-dev/sessions/today.jsonl", b'{"role": "user", "text": "fix the build"}\n')
    for n in range(25):
        storage.put(f"agents/a-qa/note-{n:02}.md", f"note {n}".encode())


def test_a_report_has_a_section_per_worker_and_no_secret(team, services):
    plant_workspace(services.storage)
    dev = Worker.objects.get(name="a-dev")
    dev.set_condition("Ready", "False", "ContainerExited", f"exited; API_KEY={SECRETS['env secret']}")
    dev.save()
    Heartbeat.objects.create(worker=dev, state="idle", note="starting")
    Heartbeat.objects.create(worker=dev, state="busy", note=f"using Bearer {SECRETS['bearer']}")
    Heartbeat.objects.create(
        worker=dev, state="busy", note="long ago", received_at=timezone.now() - timedelta(hours=30)
    )
    AuditRecord.objects.create(
        actor="a-lead", identity="team-leader", action="state:Sleeping", target_kind="Worker", target_name="a-dev"
    )
    job = start("report", hours=2)
    debug_runs.run(str(job.pk), services)
    job.refresh_from_db()
    assert job.state == "Done", job.message
    (key,) = job.outputs
    assert key.startswith("debug/a-debug/output/debug-report-") and key.endswith(".md")
    text = services.storage.get(key).decode()

    for worker in ("a-lead", "a-dev", "a-qa"):
        assert f"## worker/{worker}" in text
    assert "Build things carefully." in text  # a state file
    assert '"userId": "@a-dev:hs"' in text  # the agent's config, its secrets hidden
    assert "fix the build" in text  # a session entry
    assert "[truncated:" in text and "THE END" not in text  # the huge file is cut
    assert "state:Sleeping" in text  # an audit event
    assert "idle → busy" in text  # a transition
    assert "condition Ready became False (ContainerExited)" in text
    assert "note-19.md" in text and "note-20.md" not in text and "5 more file(s) not shown" in text
    assert "long ago" not in text  # a heartbeat outside the window
    assert "please fix the build" in text  # a Matrix message naming a-dev
    assert len(text) < 400_000
    assert_no_secret(text, team["lead"].access_token, team["dev"].access_token)


def test_a_report_about_one_worker_only(team, services):
    job = debug_runs.run(str(start("report", worker="a-qa").pk), services)
    assert job is not None and job.state == "Done"
    text = written(services.storage, job.outputs)
    assert "## worker/a-qa" in text and "## worker/a-dev" not in text


def test_a_report_without_a_credential_says_so(team, services):
    DebugWorker.objects.filter(name="a-debug").update(matrix_access_token="")
    job = debug_runs.run(str(start("report").pk), services)
    assert job is not None and job.state == "Done"
    assert "has no Matrix credential" in written(services.storage, job.outputs)
