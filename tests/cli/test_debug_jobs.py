"""``hiclaw debug export|report|job|files|get`` against a live controller.

Celery runs eagerly here, so a job runs inside the request that queues it (on
the embedded services: file storage, Matrix disabled) and ``--wait`` sees it
finished on its first look.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from controller.connections import default_connections
from controller.models import DebugJob, DebugWorker
from controller.services.apply import apply_text
from tests.cli.conftest import failed, ok
from tests.helpers import manifest, to_yaml

pytestmark = pytest.mark.django_db(transaction=True)
# The console script runs this checkout's code, whichever checkout installed it.
SOURCE = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


@pytest.fixture
def debug(hiclaw, eager_celery):
    spec = {"target": {"type": "team", "name": "team-a"}}
    apply_text(to_yaml(manifest("DebugWorker", "a-debug", spec, annotations={"hiclaw.io/team": "team-a"})))
    DebugWorker.objects.filter(name="a-debug").update(
        mounted_workspaces=[{"worker": w, "storagePath": f"agents/{w}/"} for w in ("a-lead", "a-dev")]
    )
    default_connections().storage.put("agents/a-dev/SOUL.md", b"# a-dev\nShip it.\n")

    def run(*args: str, persona: str = "leader-a"):
        return hiclaw("debug", *args, persona=persona, env=SOURCE)

    return run


def test_report_wait_prints_the_report_and_get_reads_it(debug):
    lines = ok(debug("report", "a-debug", "--hours", "3", "--worker", "a-dev", "--wait")).splitlines()
    job = DebugJob.objects.get()
    assert lines[0] == f"report {job.pk} Queued"
    assert lines[1:] == [key.removeprefix("debug/a-debug/") for key in job.outputs]
    text = ok(debug("get", "a-debug", lines[1]))
    assert text.startswith("# Debug report of debugworker/a-debug") and "Ship it." in text
    assert "## worker/a-lead" not in text


def test_files_lists_what_jobs_wrote(debug):
    ok(debug("report", "a-debug", "--hours", "1", "--wait"))
    (path,) = [entry["path"] for entry in json.loads(ok(debug("files", "a-debug", "-o", "json")))["files"]]
    assert path.startswith("output/debug-report-")
    assert yaml.safe_load(ok(debug("files", "a-debug", "-o", "yaml")))["files"][0]["path"] == path
    table = ok(debug("files", "a-debug")).splitlines()
    assert table[0].split() == ["PATH", "SIZE", "AGE"] and table[1].startswith(path)


def test_a_failed_job_exits_1_with_its_message(debug):
    line = failed(debug("export", "a-debug", "--hours", "1", "--wait"))
    assert line.startswith(f"error: job {DebugJob.objects.get().pk} failed: NoCredential:")
    assert "has no Matrix credential" in line


def test_without_wait_only_the_id_is_printed_and_job_follows_it(debug):
    first = ok(debug("export", "a-debug", "--hours", "1")).split()
    assert first[0] == "export" and len(first) == 3
    shown = json.loads(ok(debug("job", "a-debug", first[1], "-o", "json")))
    assert (shown["id"], shown["state"]) == (first[1], "Failed")


def test_refusals_name_the_field_or_hide_the_debugworker(debug):
    assert failed(debug("report", "a-debug", "--hours", "0")) == "error: hours: must be between 1 and 720"
    assert failed(debug("report", "a-debug", "--hours", "1", "--worker", "b-dev")).startswith("error: worker:")
    assert failed(debug("files", "a-debug", persona="leader-b")) == "error: debugworker/a-debug not found"
    assert failed(debug("get", "a-debug", "../../agents/a-dev/SOUL.md")).startswith("error: path:")
    assert not DebugJob.objects.exists()
