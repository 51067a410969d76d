"""The embedded data directory: one clear line for every way it can be wrong, private when made.

Commands run as real ``manage.py`` processes, the way a person types them.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import ROOT


def manage(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("DJANGO_SECRET_KEY", None)
    env["HICLAW_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A data dir set up by ``migrate``, the way ``make run`` sets it up."""
    data_dir = tmp_path_factory.mktemp("prepared") / "data"
    result = manage(data_dir, "migrate", "-v", "0")
    assert result.returncode == 0, result.stderr
    return data_dir


@pytest.mark.parametrize("command", [("hiclaw_apply", "-f", "-"), ("hiclaw_token", "list"), ("createsuperuser",)])
def test_a_command_against_a_data_dir_without_database_says_so_and_creates_nothing(tmp_path, command):
    data_dir = tmp_path / "elsewhere"
    line = one_line_error(manage(data_dir, *command, stdin="kind: Worker\n"))
    assert f"no controller database in HICLAW_DATA_DIR={data_dir}" in line
    assert "make run" in line
    assert not data_dir.exists()


def test_the_data_dir_is_made_private(prepared):
    assert mode(prepared) == 0o700
    assert mode(prepared / "secret_key") == 0o600
    assert mode(prepared / "hiclaw.sqlite3") == 0o600
    assert mode(prepared / "broker") == 0o700


def test_an_existing_world_readable_data_dir_is_tightened(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    assert manage(data_dir, "migrate", "-v", "0").returncode == 0
    (data_dir / "hiclaw.sqlite3").chmod(0o644)
    assert manage(data_dir, "migrate", "-v", "0").returncode == 0
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "hiclaw.sqlite3") == 0o600


def test_a_command_prints_no_broker_warning(prepared):
    manifest = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: quiet}\nspec: {model: qwen}\n"
    result = manage(prepared, "hiclaw_apply", "-f", "-", stdin=manifest)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "worker/quiet created"
    assert result.stderr == ""


def test_a_data_dir_that_is_a_file_is_named_in_one_line(tmp_path):
    data_file = tmp_path / "data"
    data_file.write_text("not a directory")
    line = one_line_error(manage(data_file, "migrate"))
    assert f"HICLAW_DATA_DIR={data_file} is a file, not a directory" in line


def test_a_corrupt_database_is_named_in_one_line(tmp_path, prepared):
    data_dir = tmp_path / "data"
    shutil.copytree(prepared, data_dir)
    (data_dir / "hiclaw.sqlite3").write_bytes(b"this is not SQLite" * 500)
    line = one_line_error(manage(data_dir, "migrate"))
    assert f"hiclaw.sqlite3 in HICLAW_DATA_DIR={data_dir} is not a usable database" in line


def test_a_read_only_data_dir_is_named_in_one_line(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # Root writes through any mode bits; the immutable attribute stops even root.
    if subprocess.run(["chattr", "+i", str(data_dir)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem has no immutable attribute (chattr)")
    try:
        line = one_line_error(manage(data_dir, "migrate"))
    finally:
        subprocess.run(["chattr", "-i", str(data_dir)], check=True)
    assert f"HICLAW_DATA_DIR={data_dir} cannot be written" in line


@pytest.mark.django_db
def test_a_store_that_turns_read_only_answers_503_with_a_reason(client, django_user_model):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded database is SQLite")
    admin = django_user_model.objects.create_superuser("root", password="pw-long-enough")
    client.force_login(admin)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA query_only = ON")  # what a read-only file or full disk does to writes
    try:
        answer = client.post(
            "/api/v1/apply",
            "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w}\nspec: {model: qwen}\n",
            content_type="application/yaml",
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = OFF")
    assert answer.status_code == 503
    assert answer["Retry-After"]
    assert "store is unavailable" in answer.json()["message"]
    assert "HICLAW_DATA_DIR" in answer.json()["message"]


def test_a_celery_worker_without_a_lasting_secret_key_refuses_in_one_line(tmp_path):
    """Separate Celery processes must share the web's key (derived passwords depend on it): a
    worker that would run with a key of its own says so before it connects to anything."""
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HICLAW_", "DJANGO_"))}
    env.update(
        HICLAW_DATA_DIR=str(data_dir),
        DATABASE_URL="postgres://nobody:nothing@127.0.0.1:1/none",  # never reached
        REDIS_URL="redis://127.0.0.1:1/0",  # never reached
    )
    celery = Path(sys.executable).parent / "celery"
    result = subprocess.run(
        [str(celery), "-A", "hiclaw_site", "worker", "-P", "threads", "-c", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"DJANGO_SECRET_KEY is not set and HICLAW_DATA_DIR={data_dir} holds no secret_key" in result.stderr
    assert not data_dir.exists()
