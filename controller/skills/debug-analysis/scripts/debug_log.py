"""Write a markdown debug log of the mirrored workspaces (standard library only).

For every target under ``debug/workspaces/`` (relative to the working
directory, or ``--root``): how many files it has, its newest ``sessions/``
entries and its saved state (``memory/state.json``). The output is a starting
point for an analysis: it names the files to open next.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

STATE_FILE = Path("memory") / "state.json"


def newest_lines(sessions: Path, count: int) -> list[str]:
    """The last ``count`` lines of the target's session logs, oldest first."""
    lines: list[str] = []
    for log in sorted(path for path in sessions.rglob("*") if path.is_file()):
        lines += [f"{log.name}: {line}" for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-count:] if count else []


def target_section(target: Path, count: int) -> list[str]:
    files = [path for path in target.rglob("*") if path.is_file()]
    out = [f"## {target.name}", "", f"- {len(files)} files mirrored"]
    state = target / STATE_FILE
    if state.is_file():
        out.append(f"- saved state ({STATE_FILE.as_posix()}): `{state.read_text(errors='replace').strip()[:500]}`")
    entries = newest_lines(target / "sessions", count)
    out += ["", f"Newest session entries ({len(entries)}):", ""]
    out += [f"    {line}" for line in entries] or ["    (no session logs)"]
    return [*out, ""]


def debug_log(root: Path, count: int) -> str:
    workspaces = root / "debug" / "workspaces"
    targets = sorted(path for path in workspaces.iterdir() if path.is_dir()) if workspaces.is_dir() else []
    out = ["# Debug log", "", f"{len(targets)} mirrored workspaces under {workspaces}", ""]
    for target in targets:
        out += target_section(target, count)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the debug instance's working directory")
    parser.add_argument("--lines", type=int, default=20, help="session entries per target (default 20)")
    args = parser.parse_args(argv)
    sys.stdout.write(debug_log(args.root, args.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
