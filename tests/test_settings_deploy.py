"""Production settings pass Django's deployment checklist; bad settings fail early."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x7Kq2vN9pL4mR8sT1wY6zB3cF5hJ0dG-production-only-key-for-the-check",
    "DJANGO_ALLOWED_HOSTS": "hiclaw.example.com",
    "HICLAW_HTTPS": "true",
    "HICLAW_BEHIND_PROXY": "true",
    "DATABASE_URL": "postgres://hiclaw@db.example.com:5432/hiclaw",
    "REDIS_URL": "redis://redis.example.com:6379/0",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "HICLAW_"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_the_documented_production_env():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(PRODUCTION_ENV["DJANGO_SECRET_KEY"])
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY_FILE": str(key_file)}
    del env["DJANGO_SECRET_KEY"]
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr


def test_a_bad_boolean_fails_early_naming_the_variable():
    result = manage("check", env={**PRODUCTION_ENV, "HICLAW_HTTPS": "maybe"})
    assert result.returncode != 0
    assert "HICLAW_HTTPS must be true or false, got 'maybe'" in result.stderr


def test_an_unknown_backend_fails_early():
    result = manage("check", env={**PRODUCTION_ENV, "HICLAW_BACKEND": "vmware"})
    assert "HICLAW_BACKEND must be one of auto, docker, kubernetes, process, got 'vmware'" in result.stderr


def test_fallback_keys_are_read_as_a_list_like_every_other_list(tmp_path):
    """``old-a, old-b`` (with a space, or a trailing newline from a ``_FILE``) names the keys
    themselves: a key read with a stray space would never decrypt what it encrypted."""
    keys_file = tmp_path / "fallbacks"
    keys_file.write_text("old-a, old-b,\n")
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "HICLAW_"))}
    env = {**clean, **PRODUCTION_ENV, "DJANGO_SECRET_KEY_FALLBACKS_FILE": str(keys_file)}
    code = "import hiclaw_site.settings as s; print(s.SECRET_KEY_FALLBACKS)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "['old-a', 'old-b']", result.stdout + result.stderr
