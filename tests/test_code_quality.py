"""The code base stays lint-clean and formatted (ruff), so CI catches drift."""

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
