"""Write memory/handoff.md: what was being done and what comes next, newest note first.

Usage: handoff.py --task TEXT --next TEXT [--workspace DIR]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path


def write_note(workspace: Path, task: str, next_step: str, now: datetime | None = None) -> Path:
    note = workspace / "memory" / "handoff.md"
    note.parent.mkdir(parents=True, exist_ok=True)
    previous = note.read_text() if note.exists() else ""
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    entry = f"## Handoff {stamp}\n\n- Task: {task}\n- Next: {next_step}\n\n"
    note.write_text(entry + previous)
    return note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", required=True)
    parser.add_argument("--next", required=True, dest="next_step")
    parser.add_argument("--workspace", type=Path, default=Path.cwd())
    args = parser.parse_args()
    print(write_note(args.workspace, args.task, args.next_step))


if __name__ == "__main__":
    main()
