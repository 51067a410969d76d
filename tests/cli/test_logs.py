"""``hiclaw logs`` against a live controller whose process backend runs a real instance."""

from __future__ import annotations

import re

import pytest

from controller import naming
from controller.backends.base import InstanceSpec
from controller.connections import default_connections
from tests.cli.conftest import Lines, failed, ok
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

COUNTING = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"


def _run(worker: str, script: str) -> None:
    spec = InstanceSpec(
        name=naming.instance_name("worker", worker), kind="worker", resource=worker, command=("sh", "-c", script)
    )
    default_connections().backend.create(spec)


def test_logs_prints_the_last_lines(hiclaw):
    _run("solo", "for i in 1 2 3 4 5; do echo line $i; done; sleep 60")
    wait_until(lambda: "line 5" in hiclaw("logs", "solo").stdout, timeout=10)
    assert ok(hiclaw("logs", "solo", "--tail", "2")) == "line 4\nline 5\n"


def test_logs_follow_prints_each_new_line_once(hiclaw):
    _run("a-dev", COUNTING)
    # Started once several lines exist, so the first poll's window holds lines before the tail shown.
    wait_until(lambda: "line 4" in hiclaw("logs", "a-dev").stdout, timeout=10)
    process = hiclaw.start("logs", "a-dev", "-f", "--tail", "1", "--interval", "0.2", persona="leader-a")
    try:
        lines = Lines(process)
        seen = [lines.next().strip() for _ in range(8)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    numbers = [int(re.fullmatch(r"line (\d+)", line)[1]) for line in seen]  # type: ignore[index]
    assert numbers == list(range(numbers[0], numbers[0] + 8)), seen  # in order, none twice, none lost


def test_logs_failures_are_one_line(hiclaw):
    assert failed(hiclaw("logs", "b-dev", persona="leader-a")) == "error: worker/b-dev not found"
    assert failed(hiclaw("logs", "solo")).startswith("error: worker/solo: No log: ")  # no instance yet
    assert failed(hiclaw("logs", "solo", "--tail", "0")) == "error: tail: must be a whole number from 1 to 5000"
