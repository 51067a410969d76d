"""The DebugWorker reconciler in embedded mode: process backend, file storage, no Matrix.

Targets, the instance and its token, idempotence, expiry on a fake clock, the
team's default DebugWorker renewed after it expires, and what a debug-worker
token may and may not do through the API.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from controller import reconcilers
from controller.backends.base import InstanceState
from controller.connections import Connections, default_connections
from controller.models import AgentToken, DebugWorker, Identity
from controller.reconcilers.debug_room import account_name
from controller.reconcilers.resync import resync
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml, wait_until
from tests.services.world import Driver
from tests.test_worker_e2e import MUTATING, Recorder

pytestmark = pytest.mark.django_db

TEAM = "crew"
DEFAULT = f"{TEAM}-debug"
MEMBERS = [f"{TEAM}-lead", f"{TEAM}-a", f"{TEAM}-b"]


def team_yaml(**debug) -> str:
    spec = {
        "admin": {"name": "boss", "matrixUserId": "@boss:example.org"},
        "leader": {"name": f"{TEAM}-lead", "model": "qwen"},
        "workers": [{"name": f"{TEAM}-a", "model": "qwen"}, {"name": f"{TEAM}-b", "model": "qwen"}],
        "debug": {"enabled": True, **debug},
    }
    return to_yaml(manifest("Team", TEAM, spec))


@pytest.fixture
def driver() -> Driver:
    return Driver(dataclasses.replace(default_connections()))


@pytest.fixture
def team(driver) -> DebugWorker:
    """The team, its members' rows, and the default DebugWorker its reconcile creates."""
    apply_text(team_yaml())
    driver.reconcile("Team", TEAM)
    return DebugWorker.objects.get(name=DEFAULT)


def debugworker_yaml(name: str, **spec) -> str:
    return to_yaml(manifest("DebugWorker", name, spec))


def conditions(row: DebugWorker) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in row.conditions}


def test_an_expiry_before_the_next_resync_is_asked_for_on_time(driver, team, settings):
    driver.reconcile("DebugWorker", DEFAULT)
    later(driver, hours=72, seconds=-120)
    requeue = driver.reconcile("DebugWorker", DEFAULT).requeue_after
    assert requeue == pytest.approx(120, abs=5) and requeue <= settings.RESYNC_INTERVAL_SECONDS


def later(driver: Driver, **delta) -> Connections:
    """The driver's connections with the clock moved forward."""
    moved = timezone.now() + timedelta(**delta)
    driver.connections.clock = lambda: moved
    return driver.connections


def test_a_team_target_mirrors_the_leader_and_the_workers(driver, team):
    result = driver.reconcile("DebugWorker", DEFAULT)
    row = DebugWorker.objects.get(name=DEFAULT)
    assert row.phase == "Running", row.message
    assert row.mounted_workspaces == [{"worker": name, "storagePath": f"agents/{name}/"} for name in MEMBERS]
    assert conditions(row) == {
        "TargetsResolved": ("True", "Resolved"),
        "MatrixReady": ("False", "Disabled"),
        "StorageReady": ("True", "Written"),
        "InstanceReady": ("True", "Running"),
    }
    services = default_connections()
    assert services.backend.status(f"hiclaw-debug-{DEFAULT}").running
    skill = services.storage.get(f"debug/{DEFAULT}/skills/debug-analysis/SKILL.md")
    assert b"debug/workspaces/<target>/" in skill
    assert services.storage.exists(f"debug/{DEFAULT}/skills/debug-analysis/scripts/export_messages.py")
    # The one default retention (72h): expiry recorded; so far ahead, the periodic resync
    # (not a days-long Celery countdown) brings the pass that deletes it.
    assert row.spec["retention"] == "72h"  # the schema default, written out by the apply
    assert row.expires_at == row.created_at + timedelta(hours=72)
    assert result.requeue_after is None
    assert AgentToken.objects.active().filter(identity=Identity.DEBUG_WORKER, subject=DEFAULT).count() == 1
    assert row.status_manifest()["expiresAt"] == row.expires_at.isoformat()


def test_a_second_pass_changes_nothing(driver, team):
    driver.reconcile("DebugWorker", DEFAULT)
    services = default_connections()
    started = services.backend.status(f"hiclaw-debug-{DEFAULT}").started_at
    recorded = Recorder(services.backend, MUTATING["backend"]), Recorder(services.storage, MUTATING["storage"])
    quiet = dataclasses.replace(driver.connections, backend=recorded[0], storage=recorded[1])
    reconcilers.reconcile("DebugWorker", DEFAULT, connections=quiet)
    assert (recorded[0].calls, recorded[1].calls) == ([], [])
    assert services.backend.status(f"hiclaw-debug-{DEFAULT}").started_at == started
    assert AgentToken.objects.filter(identity=Identity.DEBUG_WORKER, subject=DEFAULT).count() == 1
    assert DebugWorker.objects.get(name=DEFAULT).phase == "Running"
    # The team's pass re-applies its default unchanged (the default retention included).
    driver.reconcile("Team", TEAM)
    assert DebugWorker.objects.get(name=DEFAULT).generation == 1


def test_a_crashed_debug_instance_is_restarted_after_its_backoff_and_recorded(driver, team):
    from controller.models import Event
    from tests.test_crash_bookkeeping import later

    backend, name = default_connections().backend, f"hiclaw-debug-{DEFAULT}"
    assert driver.reconcile("DebugWorker", DEFAULT).requeue_after is None
    pid = json.loads((backend.state_dir / name / "pid").read_text())["pid"]  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: backend.status(name).exit_code == 137, 10, "the exit recorded")
    held = driver.reconcile("DebugWorker", DEFAULT)
    assert held.failed and 0 < held.requeue_after <= 1
    assert DebugWorker.objects.get(name=DEFAULT).phase == "Failed" and not backend.status(name).running
    assert reconcilers.reconcile("DebugWorker", DEFAULT, connections=later(2)).requeue_after is None
    debugworker = DebugWorker.objects.get(name=DEFAULT)
    assert (debugworker.phase, debugworker.restart_count, debugworker.last_exit_code) == ("Running", 1, 137)
    assert list(
        Event.objects.filter(kind="DebugWorker", name=DEFAULT).order_by("at").values_list("reason", "team")
    ) == [
        ("Crashed", TEAM),
        ("Restarted", TEAM),
    ]


def test_worker_and_workers_targets(driver, team):
    apply_text(debugworker_yaml("one", target={"type": "worker", "name": f"{TEAM}-a"}))
    apply_text(debugworker_yaml("two", targets=[f"{TEAM}-b", f"{TEAM}-lead"]))
    driver.converge(("DebugWorker", "one"), ("DebugWorker", "two"))
    assert DebugWorker.objects.get(name="one").mounted_workspaces == [
        {"worker": f"{TEAM}-a", "storagePath": f"{TEAM}-a".join(["agents/", "/"])}
    ]
    assert [m["worker"] for m in DebugWorker.objects.get(name="two").mounted_workspaces] == [
        f"{TEAM}-b",
        f"{TEAM}-lead",
    ]


def test_unknown_targets_fail_naming_them(driver, team):
    apply_text(debugworker_yaml("lost", targets=[f"{TEAM}-a", "ghost", "phantom"]))
    apply_text(debugworker_yaml("noteam", target={"type": "team", "name": "nowhere"}))
    driver.reconcile("DebugWorker", "lost")
    driver.reconcile("DebugWorker", "noteam")
    lost, noteam = DebugWorker.objects.get(name="lost"), DebugWorker.objects.get(name="noteam")
    assert lost.phase == "Failed" and "worker/ghost, worker/phantom" in lost.message
    assert conditions(lost)["TargetsResolved"] == ("False", "NotFound")
    assert noteam.phase == "Failed" and "team/nowhere" in noteam.message
    assert default_connections().backend.status("hiclaw-debug-lost").state == InstanceState.MISSING


def test_expiry_deletes_the_row_the_instance_and_the_token(driver, team):
    apply_text(debugworker_yaml("brief", targets=[f"{TEAM}-a"], retention="2h"))
    driver.reconcile("DebugWorker", "brief")
    _, clear = AgentToken.mint(Identity.DEBUG_WORKER, "brief")  # as the instance would hold it
    backend = default_connections().backend
    assert backend.status("hiclaw-debug-brief").running

    later(driver, hours=1, minutes=59)
    driver.reconcile("DebugWorker", "brief")
    assert DebugWorker.objects.get(name="brief").phase == "Running"  # not yet

    later(driver, hours=2, seconds=1)
    driver.reconcile("DebugWorker", "brief")
    assert not DebugWorker.objects.filter(name="brief").exists()
    assert backend.status("hiclaw-debug-brief").state == InstanceState.MISSING
    assert not AgentToken.objects.active().filter(subject="brief").exists()
    assert AgentToken.authenticate(clear) is None


def test_retention_zero_never_expires(driver, team):
    apply_text(debugworker_yaml("kept", targets=[f"{TEAM}-a"], retention="0"))
    later(driver, days=3650)
    assert driver.reconcile("DebugWorker", "kept").requeue_after is None
    row = DebugWorker.objects.get(name="kept")
    assert (row.phase, row.expires_at) == ("Running", None)


def test_the_teams_default_is_renewed_with_a_new_account_when_it_expires(driver, team):
    driver.reconcile("DebugWorker", DEFAULT)
    first = DebugWorker.objects.get(name=DEFAULT)
    assert first.spec["accessControl"] == {"allowedUsers": ["@boss:example.org"]}

    later(driver, hours=73)
    driver.converge(("DebugWorker", DEFAULT))  # its deletion queues the team, which renews it
    driver.connections.clock = timezone.now
    driver.reconcile("DebugWorker", DEFAULT)
    renewed = DebugWorker.objects.get(name=DEFAULT)
    assert renewed.pk != first.pk and account_name(renewed) != account_name(first)
    assert renewed.typed_spec.retention == "72h"
    assert renewed.phase == "Running" and conditions(renewed)["TargetsResolved"] == ("True", "Resolved")


def test_the_api_leaves_retention_to_the_default(team):
    _, clear = AgentToken.mint(Identity.ADMIN, "root")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    answer = client.post("/api/v1/debugworkers", {"name": "via-api", "targets": [f"{TEAM}-a"]}, format="json")
    assert answer.status_code == 201, answer.content
    assert DebugWorker.objects.get(name="via-api").typed_spec.retention == "72h"


def test_a_teams_own_retention_reaches_its_default(driver):
    apply_text(team_yaml(retention="5h"))
    driver.reconcile("Team", TEAM)
    assert DebugWorker.objects.get(name=DEFAULT).typed_spec.retention == "5h"


# --- the debug-worker token through the API ----------------------------------------------------
def debug_client(name: str) -> APIClient:
    _, clear = AgentToken.mint(Identity.DEBUG_WORKER, name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


@pytest.fixture
def mirrored(driver, team) -> APIClient:
    driver.reconcile("DebugWorker", DEFAULT)
    storage = default_connections().storage
    storage.put(f"agents/{TEAM}-a/sessions/today.log", b"turn 1\n")
    storage.put("agents/outsider/secret.md", b"not yours")
    return debug_client(DEFAULT)


def test_the_instance_reads_its_targets_and_its_own_files(mirrored):
    targets = mirrored.get("/api/v1/workspace/targets").json()["targets"]
    assert [t["worker"] for t in targets] == MEMBERS
    listing = mirrored.get(f"/api/v1/workspace/targets/{TEAM}-a/files").json()["files"]
    assert [(f["path"], f["size"]) for f in listing] == [("sessions/today.log", 7)] and listing[0]["etag"]
    answer = mirrored.get(f"/api/v1/workspace/targets/{TEAM}-a/files/sessions/today.log")
    assert (answer.status_code, answer.content) == (200, b"turn 1\n")
    own = {f["path"] for f in mirrored.get("/api/v1/workspace/debug/files").json()["files"]}
    assert "skills/debug-analysis/SKILL.md" in own
    skill = mirrored.get("/api/v1/workspace/debug/files/skills/debug-analysis/SKILL.md")
    assert skill.status_code == 200 and skill.content.startswith(b"---\nname: debug-analysis")


def test_a_targets_config_reaches_the_instance_without_its_credentials(mirrored):
    config = b'{"matrix": {"accessToken": "syt_bGVhZA_abcdefghijklmnopqr_0a1b2c", "userId": "@a:hs"}}'
    default_connections().storage.put(f"agents/{TEAM}-a/openclaw.json", config)
    answer = mirrored.get(f"/api/v1/workspace/targets/{TEAM}-a/files/openclaw.json")
    assert answer.status_code == 200 and b'"userId": "@a:hs"' in answer.content
    assert b"syt_bGVhZA" not in answer.content


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        (f"/api/v1/workspace/targets/{TEAM}-a/files/../../outsider/secret.md", 400, "path"),
        (f"/api/v1/workspace/targets/{TEAM}-a/files/%2e%2e/%2e%2e/outsider/secret.md", 400, "path"),
        (f"/api/v1/workspace/targets/{TEAM}-a/files//etc/passwd", 400, "path"),
        (f"/api/v1/workspace/targets/{TEAM}-a/files/..%5C..%5Coutsider%5Csecret.md", 400, "path"),
        (f"/api/v1/workspace/targets/{TEAM}-a/files/sessions/today.log%00.md", 400, "path"),
        # A line break is a legal key character: no such file, answered in JSON like the rest.
        (f"/api/v1/workspace/targets/{TEAM}-a/files/sessions/to%0Aday.log", 404, None),
        ("/api/v1/workspace/targets/outsider/files/secret.md", 404, "target"),
        ("/api/v1/workspace/targets/outsider/files", 404, "target"),
        ("/api/v1/workspace/targets/%2e%2e/files/agents/outsider/secret.md", 404, "target"),
        ("/api/v1/workspace/debug/files/../../agents/outsider/secret.md", 400, "path"),
        ("/api/v1/workspace/debug/files/%2e%2e/%2e%2e/agents/outsider/secret.md", 400, "path"),
    ],
)
def test_crafted_paths_are_refused_naming_the_field(mirrored, url, status, field):
    answer = mirrored.get(url)
    assert answer.status_code == status, answer.content
    assert answer.json().get("field") == field
    assert b"not yours" not in answer.content


def test_the_debug_token_writes_nothing_and_reaches_nothing_else(mirrored):
    target_file = f"/api/v1/workspace/targets/{TEAM}-a/files/sessions/today.log"
    assert mirrored.put(target_file, b"x", content_type="application/octet-stream").status_code == 405
    assert mirrored.delete(target_file).status_code == 405
    assert mirrored.put("/api/v1/workspace/debug/files/x", b"x", content_type="text/plain").status_code == 405
    assert mirrored.get("/api/v1/workspace/files").status_code == 403
    assert mirrored.put("/api/v1/workspace/files/x", b"x", content_type="text/plain").status_code == 403
    apply = to_yaml(manifest("Worker", "sneaky", {"model": "q"}))
    assert mirrored.post("/api/v1/apply", apply, content_type="application/yaml").status_code == 403
    for plural in ("workers", "teams", "humans", "managers", "debugworkers"):
        answer = mirrored.get(f"/api/v1/{plural}")
        assert answer.status_code in (200, 403), (plural, answer.status_code)
        assert not answer.json().get("items"), plural
    assert mirrored.get(f"/api/v1/workers/{TEAM}-a").status_code == 404
    assert mirrored.post(f"/api/v1/workers/{TEAM}-a/sleep").status_code in (403, 404)
    assert mirrored.delete(f"/api/v1/debugworkers/{DEFAULT}").status_code in (403, 404)
    assert mirrored.post("/api/v1/heartbeats", {"state": "idle"}, format="json").status_code in (403, 404)
    assert DebugWorker.objects.filter(name=DEFAULT, deletion_requested_at__isnull=True).exists()


def test_other_identities_are_refused_by_the_debug_read_api(mirrored):
    for identity, subject, team in ((Identity.WORKER, f"{TEAM}-a", TEAM), (Identity.ADMIN, "root", "")):
        _, clear = AgentToken.mint(identity, subject, team=team)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
        assert client.get("/api/v1/workspace/targets").status_code == 403
        assert client.get(f"/api/v1/workspace/targets/{TEAM}-a/files").status_code == 403
    assert APIClient().get("/api/v1/workspace/targets").status_code == 401
    # Another DebugWorker's token reaches only its own targets.
    apply_text(debugworker_yaml("narrow", targets=[f"{TEAM}-b"]))
    reconcilers.reconcile("DebugWorker", "narrow")
    narrow = debug_client("narrow")
    assert narrow.get(f"/api/v1/workspace/targets/{TEAM}-a/files").status_code == 404
    assert narrow.get("/api/v1/workspace/debug/files").json()["files"][0]["path"].startswith("skills/")


def test_resync_queues_an_expired_or_stopped_debugworker_and_removes_an_orphan_instance(driver, team):
    apply_text(debugworker_yaml("gone", targets=[f"{TEAM}-a"]))
    driver.converge(("DebugWorker", DEFAULT), ("DebugWorker", "gone"))
    backend = default_connections().backend
    DebugWorker.objects.filter(name="gone").delete()  # as if its row went while the controller was down

    def run() -> tuple[list[tuple[str, str]], int]:
        seen: list[tuple[str, str]] = []
        report = resync(backend, lambda kind, name: seen.append((kind, name)))
        return [entry for entry in seen if entry[0] == "DebugWorker"], report.orphans_deleted

    assert run() == ([], 1)  # converged: nothing to queue; the orphan instance is removed
    assert backend.status("hiclaw-debug-gone").state == InstanceState.MISSING
    DebugWorker.objects.filter(name=DEFAULT).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert run() == ([("DebugWorker", DEFAULT)], 0)  # its expiry has come
    DebugWorker.objects.filter(name=DEFAULT).update(expires_at=None)
    backend.stop(f"hiclaw-debug-{DEFAULT}")
    assert run() == ([("DebugWorker", DEFAULT)], 0)  # its instance does not run
