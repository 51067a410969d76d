"""``hiclaw`` without a server: every command's help, and settings errors before any request."""

from __future__ import annotations

import subprocess
import sys

from tests.cli.conftest import BASE_ENV, HICLAW

COMMANDS = [
    [],
    ["apply"],
    ["apply", "worker"],
    ["apply", "team"],
    ["get"],
    ["delete"],
    *[[verb, kind] for verb in ("create", "update") for kind in ("worker", "team", "human", "manager")],
    ["create"],
    ["update"],
    ["worker"],
    *[["worker", action] for action in ("status", "wake", "sleep", "ensure-ready", "check-idle", "report-ready")],
    ["config"],
    ["config", "push"],
    ["debug"],
    *[["debug", action] for action in ("create", "list", "delete")],
    ["status"],
    ["version"],
]


def test_every_command_prints_help_and_exits_0():
    # Started together: each is a fresh interpreter, and waiting for them one by one would be slow.
    processes = {
        " ".join(command): subprocess.Popen(
            [str(HICLAW), *command, "--help"], env=BASE_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command in COMMANDS
    }
    for command, process in processes.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, f"hiclaw {command} --help: {err}"
        assert out.startswith(f"usage: hiclaw {command}".rstrip()), out


def test_missing_controller_url_is_one_clear_line():
    process = subprocess.run([str(HICLAW), "get", "workers"], env=BASE_ENV, capture_output=True, text=True, timeout=60)
    assert process.returncode == 1
    assert (
        process.stderr
        == "error: HICLAW_CONTROLLER_URL is not set; set it to the controller's address, e.g. http://127.0.0.1:8000\n"
    )


def test_missing_token_names_the_variables():
    env = {**BASE_ENV, "HICLAW_CONTROLLER_URL": "http://127.0.0.1:9"}
    process = subprocess.run([str(HICLAW), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert process.returncode == 1
    assert process.stderr.startswith("error: no API token: set HICLAW_AGENT_TOKEN or HICLAW_ADMIN_TOKEN")


def test_unreachable_controller_is_one_line():
    env = {**BASE_ENV, "HICLAW_CONTROLLER_URL": "http://127.0.0.1:9", "HICLAW_AUTH_TOKEN": "hct_x"}
    process = subprocess.run([str(HICLAW), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert process.returncode == 1
    assert process.stderr == "error: cannot reach the controller at http://127.0.0.1:9: Connection refused\n"


def test_usage_mistakes_exit_2():
    process = subprocess.run([str(HICLAW), "config", "push"], env=BASE_ENV, capture_output=True, text=True, timeout=60)
    assert process.returncode == 2
    assert "one of the arguments --worker --team --apply-to-all is required" in process.stderr


PROBE = """
import sys
import controller.cli.main
outside = {"django", "rest_framework", "controller"}
print(sorted(m for m in sys.modules if m.split(".")[0] in outside and not m.startswith("controller.cli")))
"""


def test_the_cli_imports_neither_django_nor_the_models():
    process = subprocess.run([sys.executable, "-c", PROBE], env=BASE_ENV, capture_output=True, text=True, timeout=60)
    assert process.stdout == "['controller']\n", process.stderr  # the package itself, which imports nothing
