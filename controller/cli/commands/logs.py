"""``hiclaw logs NAME [-f] [--tail N]``: what a worker's instance printed.

The API has no stream (``GET /workers/{name}/logs`` answers the last lines its backend keeps), so
``-f`` polls it and prints only the lines after those already shown.
"""

from __future__ import annotations

import argparse
import sys
import time

from controller.cli.client import Client, CLIError

FOLLOW_WINDOW = 1000  # lines asked for on each poll: more than an agent prints between two


def register(commands: argparse._SubParsersAction) -> None:
    logs = commands.add_parser(
        "logs",
        help="print a worker's log",
        description="Print the last lines a worker's instance printed; -f keeps printing new lines until interrupted.",
    )
    logs.add_argument("name", help="the worker")
    logs.add_argument("--tail", type=int, default=100, help="lines to show, 1-5000 (default 100)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (polls the controller)")
    logs.add_argument("--interval", type=float, default=1.0, help="seconds between polls with -f (default 1)")
    logs.set_defaults(handler=show_logs)


def fetch(client: Client, name: str, tail: int, whole_lines: bool = False) -> list[str]:
    """The log's last lines; with ``whole_lines`` without a last line still being written (when
    following, a half-written ``line 1`` would not match the ``line 12`` it becomes)."""
    answer = client.get(f"/workers/{name}/logs", {"tail": tail})
    if answer.get("message") and not answer.get("log"):
        raise CLIError(f"worker/{name}: {answer['message']}")
    text = answer.get("log", "")
    lines = text.splitlines()
    return lines[:-1] if whole_lines and lines and not text.endswith("\n") else lines


def new_lines(shown: list[str], current: list[str]) -> list[str]:
    """The lines of ``current`` after the latest place where it holds the lines already shown
    (``shown`` may start before ``current`` does, or be a short tail within it); all if none."""
    if not shown:
        return current
    for end in range(len(current), 0, -1):
        overlap = min(len(shown), end)
        if current[end - overlap : end] == shown[-overlap:]:
            return current[end:]
    return current


def show_logs(args: argparse.Namespace, client: Client) -> int:
    lines = fetch(client, args.name, args.tail, whole_lines=args.follow)
    _print(lines)
    while args.follow:
        time.sleep(max(args.interval, 0.1))
        current = fetch(client, args.name, FOLLOW_WINDOW, whole_lines=True)
        _print(new_lines(lines, current))
        lines = current
    return 0


def _print(lines: list[str]) -> None:
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
