"""Summarise the newest session logs of this workspace as a Markdown status note.

Usage: status_report.py [--workspace DIR] [--lines N] [--write]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def summary(workspace: Path, lines: int) -> str:
    logs = sorted((workspace / "sessions").glob("*"))
    entries = [line for log in logs if log.is_file() for line in log.read_text(errors="replace").splitlines() if line]
    if not entries:
        return "# Status\n\nNo session logged yet.\n"
    recent = "\n".join(f"- {line}" for line in entries[-lines:])
    return (
        f"# Status\n\n{len(entries)} turns in {len(logs)} session logs.\n\n"
        f"First: {entries[0]}\n\nLast: {entries[-1]}\n\n## Latest\n\n{recent}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=Path.cwd())
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="also save it as memory/status.md")
    args = parser.parse_args()
    text = summary(args.workspace, args.lines)
    if args.write:
        (args.workspace / "memory").mkdir(exist_ok=True)
        (args.workspace / "memory" / "status.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
