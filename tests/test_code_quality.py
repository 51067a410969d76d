"""The code base stays lint-clean and formatted (ruff), layered and free of import cycles
(import-linter, grimp) and type-checked (mypy), so CI catches drift."""

from __future__ import annotations

import ast
import subprocess
import sys

import grimp

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
    """The layer order and the forbidden imports, checked by import-linter (contracts in pyproject.toml)."""
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


def test_no_module_imports_itself_back():
    """No import cycle among the project's modules, counting imports inside functions: a module
    that needs a lower one's help gets it from below, never by a lazy import of a higher one."""
    # Imports only a type checker follows (under ``if TYPE_CHECKING:``) never run, so they
    # cannot form a cycle at import time; annotations may name a module that imports this one.
    graph = grimp.build_graph(
        "controller", "debugui", "hiclaw_site", exclude_type_checking_imports=True, cache_dir=None
    )
    cycles = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.add(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60
SOURCES = ("controller", "debugui", "hiclaw_site")


def _sources():
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_modules_and_functions_stay_small():
    """A module past 400 lines is split by topic; a function past 60 lines, into named steps."""
    too_long = []
    for path in _sources():
        text = path.read_text()
        name = path.relative_to(ROOT)
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}(): {length} lines")
    assert not too_long, "\n".join(too_long)
