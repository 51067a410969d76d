"""The code base stays lint-clean, formatted (ruff), layered (import-linter) and type-checked (mypy)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

RUFF = [sys.executable, "-m", "ruff"]


def test_ruff_lint_is_clean():
    result = subprocess.run(
        [*RUFF, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run([*RUFF, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_hold():
    """The layering (views -> services/policy -> models; clients and backends know no domain),
    checked by import-linter against the contracts in pyproject.toml."""
    lint_imports = ROOT / ".venv" / "bin" / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_types_check():
    """mypy with the django-stubs, DRF and pydantic plugins ([tool.mypy] in pyproject.toml).

    Its cache (.mypy_cache) makes a run after a small change take a second or two.
    """
    mypy = ROOT / ".venv" / "bin" / "mypy"
    assert mypy.exists(), f"{mypy} is missing: install the test requirements (requirements-test.txt)"
    result = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"mypy found type errors; reproduce with `.venv/bin/mypy` in {ROOT}:\n"
        + result.stdout[-5000:]
        + result.stderr[-2000:]
    )
