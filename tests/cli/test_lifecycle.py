"""``hiclaw worker …``, ``config push``, ``debug …``, ``status`` and ``version`` against a live controller."""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from controller.models import AuditRecord, DebugWorker, Heartbeat, Upgrade, Worker
from controller.services import heartbeat_rate
from tests.cli.conftest import failed, ok
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_sleep_and_wake_set_the_desired_state(hiclaw):
    assert (
        ok(hiclaw("worker", "sleep", "--name", "a-dev", persona="leader-a"))
        == "worker/a-dev state Sleeping (phase Pending)\n"
    )
    assert Worker.objects.get(name="a-dev").state == "Sleeping"
    assert ok(hiclaw("worker", "wake", "--name", "a-dev", persona="leader-a")).startswith("worker/a-dev state Running")
    assert Worker.objects.get(name="a-dev").state == "Running"
    assert AuditRecord.objects.filter(actor="a-lead", action="state:Sleeping", target_name="a-dev").exists()


def test_leader_cannot_sleep_another_teams_worker(hiclaw):
    line = failed(hiclaw("worker", "sleep", "--name", "b-dev", persona="leader-a"))
    assert line == "error: worker/b-dev not found"  # as if it did not exist: nothing of team-b is revealed
    assert Worker.objects.get(name="b-dev").state == "Running"


def test_bad_token_is_refused(hiclaw):
    process = hiclaw("get", "workers", env={"HICLAW_AGENT_TOKEN": "hct_not-a-token"})
    assert failed(process) == "error: invalid, expired or revoked token"


def test_token_is_read_from_the_file_when_no_variable_is_set(hiclaw, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("hct_from-the-file\n")
    process = hiclaw("status", env={"HICLAW_AGENT_TOKEN": "", "HICLAW_AUTH_TOKEN_FILE": str(token_file)})
    # The file's token was sent (and is unknown to the server), not the fixture's.
    assert failed(process) == "error: invalid, expired or revoked token"


def test_ensure_ready_that_times_out_exits_1(hiclaw):
    started = time.monotonic()
    line = failed(hiclaw("worker", "ensure-ready", "--name", "solo", "--timeout", "0"))
    assert line == "error: worker/solo is not ready (phase Pending): timed out after 0 s"
    assert time.monotonic() - started < 10


def test_ensure_ready_wakes_a_sleeping_worker(hiclaw):
    ok(hiclaw("worker", "sleep", "--name", "solo"))
    failed(hiclaw("worker", "ensure-ready", "--name", "solo", "--timeout", "0"))
    assert Worker.objects.get(name="solo").state == "Running"


def test_ensure_ready_of_a_running_worker_succeeds(hiclaw):
    Worker.objects.filter(name="solo").update(phase="Running")
    assert (
        ok(hiclaw("worker", "ensure-ready", "--name", "solo", "--timeout", "1"))
        == "worker/solo ready (phase Running)\n"
    )


def test_worker_status_for_a_team_and_one_worker(hiclaw):
    lines = ok(hiclaw("worker", "status", "--team", "team-a", persona="leader-a")).splitlines()
    assert lines[0].split()[:5] == ["NAME", "TEAM", "PHASE", "STATE", "READY"]
    assert [line.split()[0] for line in lines[1:]] == ["a-dev", "a-lead"]
    one = json.loads(ok(hiclaw("worker", "status", "--name", "a-dev", "-o", "json", persona="worker-a")))
    assert (one["name"], one["phase"], one["ready"]) == ("a-dev", "Pending", False)


def test_status_and_get_show_the_heartbeat_health(hiclaw, settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    now = timezone.now()
    Worker.objects.filter(name="a-dev").update(phase="Running", last_heartbeat=now - timedelta(seconds=60))
    Worker.objects.filter(name="a-lead").update(phase="Running", last_heartbeat=now - timedelta(seconds=5))
    Worker.objects.filter(name="solo").update(phase="Running", last_heartbeat=now - timedelta(minutes=10))

    def column(lines: list[str], header: str) -> dict[str, str]:
        at = lines[0].split().index(header)
        return {line.split()[0]: line.split()[at] for line in lines[1:]}

    status = ok(hiclaw("worker", "status")).splitlines()
    assert column(status, "HEALTH") == {
        "a-dev": "late",
        "a-lead": "ok",
        "b-dev": "ok",
        "b-lead": "ok",
        "solo": "missed",
    }
    assert column(status, "HEALTHY") == {"a-dev": "yes", "a-lead": "yes", "b-dev": "yes", "b-lead": "yes", "solo": "no"}
    listed = ok(hiclaw("get", "workers", "--team", "team-a")).splitlines()
    assert column(listed, "HEALTH") == {"a-dev": "late", "a-lead": "ok"}


def test_check_idle_shows_time_left(hiclaw):
    ok(hiclaw("worker", "report-ready", "--name", "a-dev", persona="worker-a"))  # idle from now on
    lines = ok(hiclaw("worker", "check-idle", "--team", "team-a")).splitlines()
    assert lines[0].split() == ["NAME", "STATE", "ACTIVE", "IDLE-SINCE", "TIME-LEFT"]
    # team-a's idle timeout is the default 720m: 12 hours, shown in whole hours.
    assert lines[1].split() == ["a-dev", "Running", "0", "0s", "ago", "11h"]


def test_report_ready_with_a_bounded_heartbeat_loop(hiclaw, settings):
    settings.HICLAW_HEARTBEAT_SAMPLE_SECONDS = 0  # the history keeps every report: each one the CLI sent
    process = hiclaw(
        "worker",
        "report-ready",
        "--name",
        "a-dev",
        "--heartbeat",
        "--interval",
        "0.05",
        "--count",
        "3",
        persona="worker-a",
    )
    assert ok(process) == "worker/a-dev reported ready\nworker/a-dev sent 3 heartbeat(s)\n"
    # The ready report counts as a heartbeat too.
    assert Heartbeat.objects.filter(worker__name="a-dev").count() == 4
    assert Worker.objects.get(name="a-dev").last_heartbeat is not None


def test_the_heartbeat_loop_waits_out_a_429_and_goes_on(hiclaw, settings, monkeypatch):
    """Over its rate the loop is refused with Retry-After: it says so, waits that long (not its
    own 0.05 s) and goes on, rather than ending with an error. The ready report counts against
    the same rate: it and the first heartbeat fill the window of 2, the second is refused."""
    settings.HICLAW_HEARTBEAT_MAX_PER_MINUTE = 2
    monkeypatch.setattr(heartbeat_rate, "local", heartbeat_rate.WindowLimiter(window=1))  # Retry-After: 1
    started = time.monotonic()
    process = hiclaw(
        "worker", "report-ready", "--name", "a-dev", "--heartbeat", "--interval", "0.05", "--count", "3",
        persona="worker-a",
    )  # fmt: skip
    took = time.monotonic() - started
    assert ok(process) == "worker/a-dev reported ready\nworker/a-dev sent 2 heartbeat(s)\n"
    assert "warning: heartbeat refused: too many heartbeats" in process.stderr
    assert "next in 1 s" in process.stderr
    assert took >= 0.9, f"the loop went on after {took:.2f} s, before the 1 s it was asked to wait"


def test_a_ready_report_over_the_rate_ends_with_one_plain_error(hiclaw, settings):
    """Ready reports count as heartbeats: over the rate the command says so and when to retry,
    without a traceback, and records nothing."""
    settings.HICLAW_HEARTBEAT_MAX_PER_MINUTE = 1
    assert (
        ok(hiclaw("worker", "report-ready", "--name", "a-dev", persona="worker-a")) == "worker/a-dev reported ready\n"
    )
    before = Heartbeat.objects.filter(worker__name="a-dev").count()
    line = failed(hiclaw("worker", "report-ready", "--name", "a-dev", persona="worker-a"))
    assert line.startswith("error: too many heartbeats: at most 1 a minute per agent; retry after ")
    assert Heartbeat.objects.filter(worker__name="a-dev").count() == before


def test_heartbeats_about_another_worker_are_refused(hiclaw):
    line = failed(hiclaw("worker", "report-ready", "--name", "solo", "--heartbeat", "--count", "1", persona="worker-a"))
    assert line == "error: worker/solo not found"


def test_config_push_for_a_team_and_for_all(hiclaw):
    assert ok(hiclaw("config", "push", "--team", "team-a", persona="leader-a")).endswith(
        "for 2 worker(s): a-dev, a-lead\n"
    )
    assert list(Upgrade.objects.get().targets.values_list("worker", flat=True)) == ["a-dev", "a-lead"]
    line = failed(hiclaw("config", "push", "--apply-to-all", persona="leader-a"))
    assert line == "error: team-leader a-lead may not push to every worker"
    assert "queued for 5 worker(s)" in ok(hiclaw("config", "push", "--apply-to-all"))


def test_debug_create_list_and_delete(hiclaw):
    assert (
        ok(hiclaw("debug", "create", "--name", "dbg", "--retention", "24h", persona="leader-a"))
        == "debugworker/dbg created\n"
    )
    debug = DebugWorker.objects.get(name="dbg")
    assert (debug.spec["target"], debug.spec["retention"]) == ({"type": "team", "name": "team-a"}, "24h")
    ok(
        hiclaw(
            "debug",
            "create",
            "--name",
            "pair",
            "--target-worker",
            "a-dev",
            "b-dev",
            "--allowed-user",
            "@ops:example.org",
        )
    )
    assert DebugWorker.objects.get(name="pair").spec["targets"] == ["a-dev", "b-dev"]

    lines = ok(hiclaw("debug", "list", persona="leader-a")).splitlines()
    assert lines[0].split() == ["NAME", "TEAM", "PHASE", "TARGET", "RETENTION", "AGE"]
    assert [line.split()[:5] for line in lines[1:]] == [["dbg", "team-a", "Pending", "team/team-a", "24h"]]

    assert ok(hiclaw("debug", "delete", "--name", "dbg", persona="leader-a")) == "debugworker/dbg deletion requested\n"
    assert DebugWorker.objects.get(name="dbg").deletion_requested_at is not None
    line = failed(hiclaw("debug", "create", "--name", "x", "--team", "team-b", persona="leader-a"))
    assert line == "error: team: team/team-b not found"


def test_status_and_version(hiclaw):
    lines = ok(hiclaw("status")).splitlines()
    assert lines[:4] == ["backend: process", "storage: ok", "matrix: disabled", "gateway: disabled"]
    assert lines[5].split() == ["Worker", "5", "Pending", "5"]
    assert ok(hiclaw("version")) == "hiclaw CLI 0.1.0\ncontroller 0.1.0 (API hiclaw.io/v1beta1)\n"
    # Agent images that give the API root as the controller URL work too.
    assert ok(hiclaw("version", env={"HICLAW_CONTROLLER_URL": f"{hiclaw.url}/api/v1/"})).startswith("hiclaw CLI")


def test_heartbeat_loop_ends_cleanly_on_sigterm(hiclaw):
    command = ["worker", "report-ready", "--name", "a-dev", "--heartbeat", "--interval", "30"]
    process = hiclaw.start(*command, persona="worker-a")
    try:
        assert process.stdout.readline() == "worker/a-dev reported ready\n"
        first = Heartbeat.objects.filter(worker__name="a-dev", note="")
        wait_until(first.exists, 10, "a heartbeat after the ready report")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert (process.returncode, out, err) == (0, "worker/a-dev sent 1 heartbeat(s)\n", "")
