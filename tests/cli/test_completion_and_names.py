"""``hiclaw completion``, run by a real bash, and names given as kubectl does (``worker wake NAME``)."""

from __future__ import annotations

import subprocess

import pytest

from controller.models import Worker
from tests.cli.conftest import BASE_ENV, HICLAW, ok

pytestmark = pytest.mark.django_db(transaction=True)


def complete(hiclaw, *words: str) -> list[str]:
    """What bash offers after ``words`` (the last one being completed), with the script sourced."""
    line = " ".join(f"'{word}'" for word in words)
    program = (
        f"source <(hiclaw completion bash); COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
        '_hiclaw; echo "${COMPREPLY[@]}"'
    )
    env = hiclaw.env("leader-a", PATH=f"{HICLAW.parent}:/usr/bin:/bin")
    done = subprocess.run(["bash", "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_kinds_options_and_names(hiclaw):
    assert complete(hiclaw, "hiclaw", "desc") == ["describe"]
    assert complete(hiclaw, "hiclaw", "get", "wor") == ["worker", "workers"]
    assert complete(hiclaw, "hiclaw", "get", "workers", "--wa") == ["--watch"]
    assert complete(hiclaw, "hiclaw", "worker", "w") == ["wake"]
    # Names come from the controller, as the token may see them: team-a's only for its leader.
    assert complete(hiclaw, "hiclaw", "describe", "worker", "") == ["a-dev", "a-lead"]
    assert complete(hiclaw, "hiclaw", "logs", "a-") == ["a-dev", "a-lead"]
    assert complete(hiclaw, "hiclaw", "worker", "wake", "a-d") == ["a-dev"]
    assert complete(hiclaw, "hiclaw", "completion", "") == ["bash", "zsh", "--help"]


def test_completion_needs_no_controller():
    # No HICLAW_CONTROLLER_URL, no token: BASE_ENV has none.
    done = subprocess.run([str(HICLAW), "completion", "zsh"], capture_output=True, text=True, timeout=60, env=BASE_ENV)
    assert done.returncode == 0, done.stderr
    assert "bashcompinit" in done.stdout and "complete -F _hiclaw hiclaw" in done.stdout


def test_worker_actions_take_the_name_as_argument_or_flag(hiclaw):
    ok(hiclaw("worker", "sleep", "a-dev", persona="leader-a"))
    assert Worker.objects.get(name="a-dev").state == "Sleeping"
    ok(hiclaw("worker", "wake", "--name", "a-dev", persona="leader-a"))
    assert Worker.objects.get(name="a-dev").state == "Running"
    for args, message in (
        (("worker", "wake"), "hiclaw: error: name: the worker's name is required (NAME or --name NAME)"),
        (
            ("worker", "wake", "a-dev", "--name", "b-dev"),
            "hiclaw: error: name: given twice, as 'a-dev' and --name 'b-dev'",
        ),
    ):
        process = hiclaw(*args)
        assert (process.returncode, process.stderr.strip()) == (2, message)
