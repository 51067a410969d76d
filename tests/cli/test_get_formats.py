"""``hiclaw get``'s kubectl ways: -o wide|name|jsonpath, -l selectors, case-free --phase, `get all`, --watch."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from controller.models import Worker
from tests.cli.conftest import Lines, failed, ok

pytestmark = pytest.mark.django_db(transaction=True)
WORKERS = ["a-dev", "a-lead", "b-dev", "b-lead", "solo"]


def usage_error(process: subprocess.CompletedProcess) -> str:
    assert process.returncode == 2, process.stdout
    assert "Traceback" not in process.stderr
    return process.stderr.splitlines()[-1]


def test_output_name_and_wide(hiclaw):
    assert ok(hiclaw("get", "workers", "-o", "name")).split() == [f"worker/{name}" for name in WORKERS]
    wide = ok(hiclaw("get", "workers", "-o", "wide")).splitlines()
    assert wide[0].split()[-5:] == ["RUNTIME", "IMAGE", "CONTAINER", "RESTARTS", "LAST-EXIT"]
    assert "hiclaw/worker-agent:1.4.0" in next(line for line in wide if line.startswith("a-dev"))


def test_output_jsonpath(hiclaw):
    assert ok(hiclaw("get", "workers", "-o", "jsonpath={.items[*].metadata.name}")) == " ".join(WORKERS) + "\n"
    assert ok(hiclaw("get", "worker", "solo", "-o", "jsonpath={.metadata.labels.tier}")) == "gold\n"
    ranged = ok(
        hiclaw("get", "teams", "-o", 'jsonpath={range .items[*]}{.metadata.name}:{.spec.leader.name}{"\\n"}{end}')
    )
    assert ranged == "team-a:a-lead\nteam-b:b-lead\n\n"
    assert (
        failed(hiclaw("get", "worker", "solo", "-o", "jsonpath={.spec.nope}")) == "error: jsonpath: nope is not found"
    )


def test_bad_output_formats_are_usage_errors(hiclaw):
    assert usage_error(hiclaw("get", "workers", "-o", "yml")).endswith("unknown format 'yml'; did you mean 'yaml'?")
    line = usage_error(hiclaw("get", "workers", "-o", "jsonpath={.items[?(@.x)]}"))
    assert "jsonpath: cannot read" in line
    assert "{range} without {end}" in usage_error(hiclaw("get", "workers", "-o", "jsonpath={range .items[*]}"))


def test_label_selectors(hiclaw):
    assert ok(hiclaw("get", "workers", "-l", "tier=gold", "-o", "name")) == "worker/solo\n"
    assert ok(hiclaw("get", "workers", "-l", "tier", "-o", "name")) == "worker/solo\n"
    assert "worker/solo" not in ok(hiclaw("get", "workers", "-l", "!tier", "-o", "name"))
    assert len(ok(hiclaw("get", "workers", "-l", "tier!=gold", "-o", "name")).split()) == 4
    none = hiclaw("get", "workers", "-l", "tier=silver")
    assert (none.returncode, none.stdout, none.stderr) == (0, "", "No workers found.\n")
    assert usage_error(hiclaw("get", "workers", "-l", "tier=gold,=x")).startswith("hiclaw: error: selector: ")


def test_phase_filter_ignores_case(hiclaw):
    Worker.objects.filter(name="solo").update(phase="Running")
    for spelling in ("running", "RUNNING", "Running"):
        assert ok(hiclaw("get", "workers", "--phase", spelling, "-o", "name")) == "worker/solo\n"


def test_get_all(hiclaw):
    text = ok(hiclaw("get", "all")).split("\n\n")
    assert [block.split()[0] for block in text] == ["NAME", "NAME"]  # workers, teams (no humans, managers here)
    assert "worker/solo" in text[0] and "team/team-a" in text[1]
    assert ok(hiclaw("get", "all", "--team", "team-b", "-o", "name")).split() == [
        "worker/b-dev",
        "worker/b-lead",
        "team/team-b",
    ]
    assert json.loads(ok(hiclaw("get", "all", "-o", "json")))["kind"] == "List"
    assert usage_error(hiclaw("get", "all", "solo")).startswith("hiclaw: error: name: ")


def test_watch_prints_rows_again_as_they_change(hiclaw):
    process = hiclaw.start("get", "workers", "--team", "team-a", "--watch", "--interval", "0.3", persona="leader-a")
    try:
        lines = Lines(process)
        first = [lines.next() for _ in range(3)]
        assert first[0].startswith("NAME") and first[1].startswith("a-dev") and first[2].startswith("a-lead")
        time.sleep(1)  # a few polls with nothing changed print nothing
        Worker.objects.filter(name="a-dev").update(phase="Failed")
        changed = lines.next()
        assert changed.startswith("a-dev") and "Failed" in changed.split()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert usage_error(hiclaw("get", "workers", "--watch", "-o", "json")) == (
        "hiclaw: error: output: --watch prints table, wide or name rows"
    )
