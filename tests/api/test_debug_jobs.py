"""A DebugWorker's exports, reports and files over the API: who may, what is refused, and how.

Who may use one is written out as a table here, not derived from the policy:
the users its ``allowedUsers`` names (by dashboard session), admins and the
manager, the leader of the team it debugs, and its own instance (its
``debug-worker`` token). Everyone else gets the 404 a missing DebugWorker
gets, and nothing is queued.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from controller.connections import default_connections
from controller.models import AgentToken, AuditRecord, DebugJob, DebugWorker
from controller.services import debug_runs
from controller.services.apply import apply_text
from tests.api.conftest import persona_client
from tests.helpers import manifest, to_yaml


@pytest.fixture
def debugworkers(world):
    """team-a's and team-b's DebugWorkers, mounting their team's workspaces as a reconcile would."""
    for team, workers in (("team-a", ["a-lead", "a-dev", "a-qa"]), ("team-b", ["b-lead", "b-dev"])):
        name = f"{team[-1]}-debug"
        spec = {"target": {"type": "team", "name": team}, "accessControl": {"allowedUsers": [f"{team[-1]}-user"]}}
        apply_text(to_yaml(manifest("DebugWorker", name, spec)))
        DebugWorker.objects.filter(name=name).update(
            mounted_workspaces=[{"worker": w, "storagePath": f"agents/{w}/"} for w in workers]
        )


def token_client(identity: str, subject: str, team: str = "") -> Client:
    _, clear = AgentToken.mint(identity, subject, team=team)
    return Client(headers={"authorization": f"Bearer {clear}"})


def session_client(username: str) -> Client:
    user = get_user_model().objects.create_user(username, password="pw-debug-1234")
    client = Client()
    client.force_login(user)
    return client


CALLERS = {
    "admin": lambda: persona_client("admin"),
    "manager": lambda: persona_client("manager"),
    "leader-a": lambda: persona_client("leader-a"),
    "leader-b": lambda: persona_client("leader-b"),
    "worker-a": lambda: persona_client("worker-a"),
    "its-own-instance": lambda: token_client("debug-worker", "a-debug"),
    "another-instance": lambda: token_client("debug-worker", "b-debug"),
    "allowed-user": lambda: session_client("a-user"),
    "other-user": lambda: session_client("b-user"),
}
MAY_USE_A_DEBUG = {"admin", "manager", "leader-a", "its-own-instance", "allowed-user"}


def post(client, url: str):
    if isinstance(client, Client):  # a session needs its CSRF token for a POST; Django's test client skips it
        return client.post(url, content_type="application/json")
    return client.post(url, format="json")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("kind", ["export", "report"])
def test_who_may_start_an_export_or_report(debugworkers, caller, kind):
    client = CALLERS[caller]()
    response = post(client, f"/api/v1/debugworkers/a-debug/{kind}?hours=6")
    if caller in MAY_USE_A_DEBUG:
        assert response.status_code == 202, response.content
        body = response.json()
        assert (body["kind"], body["state"], body["hours"]) == (kind, "Queued", 6)
        job = DebugJob.objects.get(pk=body["id"])
        assert AuditRecord.objects.filter(action=f"debug:{kind}", target_name="a-debug").exists()
        assert client.get(f"/api/v1/debugworkers/a-debug/jobs/{job.pk}").json()["id"] == str(job.pk)
        return
    assert response.status_code == 404, response.content
    assert response.json()["message"] == "debugworker/a-debug not found"
    assert not DebugJob.objects.exists()


@pytest.mark.parametrize("caller", CALLERS)
def test_who_may_list_and_read_the_files(debugworkers, caller):
    default_connections().storage.put("debug/a-debug/output/debug-report-1.md", b"# report")
    client = CALLERS[caller]()
    listing = client.get("/api/v1/debugworkers/a-debug/files")
    content = client.get("/api/v1/debugworkers/a-debug/files/output/debug-report-1.md")
    if caller in MAY_USE_A_DEBUG:
        assert [entry["path"] for entry in listing.json()["files"]] == ["output/debug-report-1.md"]
        assert content.content == b"# report"
    else:
        assert (listing.status_code, content.status_code) == (404, 404)
        assert b"report" not in listing.content + content.content


def test_a_missing_debugworker_is_the_same_404(debugworkers):
    answer = post(persona_client("admin"), "/api/v1/debugworkers/nope/export?hours=1")
    assert (answer.status_code, answer.json()["message"]) == (404, "debugworker/nope not found")


def test_a_debugworker_being_deleted_is_not_used(debugworkers):
    DebugWorker.objects.filter(name="a-debug").update(deletion_requested_at="2026-01-01T00:00:00Z")
    assert post(persona_client("admin"), "/api/v1/debugworkers/a-debug/export?hours=1").status_code == 404


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/debugworkers/a-debug/export", "hours"),
        ("/api/v1/debugworkers/a-debug/export?hours=", "hours"),
        ("/api/v1/debugworkers/a-debug/export?hours=abc", "hours"),
        ("/api/v1/debugworkers/a-debug/export?hours=0", "hours"),
        ("/api/v1/debugworkers/a-debug/export?hours=100000", "hours"),
        ("/api/v1/debugworkers/a-debug/report?hours=-3", "hours"),
        ("/api/v1/debugworkers/a-debug/report?hours=2&worker=b-dev", "worker"),
        ("/api/v1/debugworkers/a-debug/report?hours=2&worker=no-such", "worker"),
        ("/api/v1/debugworkers/a-debug/export?hours=2&worker=a-dev", "worker"),
    ],
)
def test_bad_hours_or_worker_is_a_400_naming_the_field(debugworkers, url, field):
    response = persona_client("leader-a").post(url, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert response.json()["message"].startswith(f"{field}:")
    assert not DebugJob.objects.exists()


def test_hours_may_come_in_the_body(debugworkers):
    response = persona_client("admin").post("/api/v1/debugworkers/a-debug/report", {"hours": 3}, format="json")
    assert (response.status_code, response.json()["hours"]) == (202, 3)


def test_a_report_about_one_target(debugworkers):
    response = persona_client("leader-a").post("/api/v1/debugworkers/a-debug/report?hours=2&worker=a-dev")
    assert (response.status_code, response.json()["worker"]) == (202, "a-dev")


def test_another_debugworkers_job_is_not_found(debugworkers):
    started = persona_client("admin").post("/api/v1/debugworkers/b-debug/export?hours=1").json()
    for url in (f"/api/v1/debugworkers/a-debug/jobs/{started['id']}", "/api/v1/debugworkers/a-debug/jobs/not-a-uuid"):
        assert persona_client("admin").get(url).status_code == 404


def test_the_job_answer_follows_the_run(debugworkers, eager_celery, django_capture_on_commit_callbacks):
    """With Celery eager, the queued job runs when its transaction commits: the export fails,
    as this DebugWorker has no Matrix credential, and says why."""
    client = persona_client("admin")
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/api/v1/debugworkers/a-debug/export?hours=1").json()
    job = client.get(f"/api/v1/debugworkers/a-debug/jobs/{started['id']}").json()
    assert job["state"] == "Failed"
    assert "no Matrix credential" in job["message"]
    assert job["finishedAt"] is not None


def test_a_report_job_lists_its_output_relative_to_the_debugworker(debugworkers):
    client = persona_client("leader-a")
    started = client.post("/api/v1/debugworkers/a-debug/report?hours=1&worker=a-dev").json()
    debug_runs.run(started["id"])
    job = client.get(f"/api/v1/debugworkers/a-debug/jobs/{started['id']}").json()
    assert job["state"] == "Done", job
    (output,) = job["outputs"]
    assert output.startswith("output/debug-report-") and output.endswith(".md")
    text = client.get(f"/api/v1/debugworkers/a-debug/files/{output}").content.decode()
    assert "## worker/a-dev" in text and "## worker/a-qa" not in text


@pytest.mark.parametrize(
    "path",
    [
        "../../agents/a-dev/SOUL.md",
        "output/../../b-debug/output/secret.md",
        "output/../../../agents/a-dev/SOUL.md",
        "%2e%2e/%2e%2e/agents/a-dev/SOUL.md",
        "output/..%2f..%2f..%2fagents/a-dev/SOUL.md",
        "elsewhere/file.md",
        "output",
        "output\\..\\..\\x.md",
        "/debug/a-debug/output/report.md",
    ],
)
def test_crafted_paths_never_leave_the_two_folders(debugworkers, path):
    storage = default_connections().storage
    storage.put("agents/a-dev/SOUL.md", b"the soul")
    storage.put("debug/b-debug/output/secret.md", b"the other's report")
    storage.put("debug/a-debug/elsewhere/file.md", b"not an output")
    response = persona_client("admin").get(f"/api/v1/debugworkers/a-debug/files/{path}")
    assert response.status_code in (400, 404), (response.status_code, response.content)
    for content in (b"the soul", b"the other's report", b"not an output"):
        assert content not in response.content
    if response.status_code == 400:
        assert response.json()["field"] == "path"


def test_a_missing_file_is_a_404_naming_the_path(debugworkers):
    response = persona_client("admin").get("/api/v1/debugworkers/a-debug/files/output/nothing.md")
    assert (response.status_code, response.json()["field"]) == (404, "path")


def test_the_files_listing_shows_exports_and_reports_only(debugworkers):
    storage = default_connections().storage
    storage.put("debug/a-debug/matrix-export/_room_hs.json", b"{}")
    storage.put("debug/a-debug/output/debug-report-2.md", b"# two")
    storage.put("debug/a-debug/notes/private.txt", b"not listed")
    storage.put("debug/a-debugger/output/other.md", b"another prefix")
    files = persona_client("leader-a").get("/api/v1/debugworkers/a-debug/files").json()["files"]
    assert sorted(entry["path"] for entry in files) == ["matrix-export/_room_hs.json", "output/debug-report-2.md"]
    assert all(entry["size"] > 0 and entry["etag"] and entry["modified"] for entry in files)
