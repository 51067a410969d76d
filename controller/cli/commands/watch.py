"""``hiclaw get … --watch``: after the first list, poll and print each row that changed.

The API has no watch stream, so the list is fetched again every ``--interval`` seconds; a row is
printed again when anything but its ages moved (an AGE column ticking is not a change), and a
resource that appears is printed as it first shows. Ctrl-C ends it (exit status 130).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controller.cli.commands import SINGULAR, say
from controller.cli.commands.columns import columns, name_of

Batch = tuple[str, list[dict[str, Any]]]
Table = Callable[[str, list[dict[str, Any]]], str]
# Columns that change by themselves as time passes.
VOLATILE = ("age", "last-heartbeat")


def follow(args: argparse.Namespace, batches: list[Batch], fetch: Callable[[], list[Batch]], table: Table) -> None:
    """Poll with ``fetch`` (the get command's list) and print changed rows with ``table``."""
    seen = {key: signature(args, key[0], resource) for key, resource in keyed(batches)}
    while True:
        time.sleep(max(args.interval, 0.2))
        current = dict(keyed(fetch()))
        changed: dict[str, list[dict[str, Any]]] = {}
        for key, resource in current.items():
            mark = signature(args, key[0], resource)
            if seen.get(key) != mark:
                seen[key] = mark
                changed.setdefault(key[0], []).append(resource)
        for gone in set(seen) - set(current):
            del seen[gone]
        for plural, items in changed.items():
            if args.output == "name":
                for resource in items:
                    say(f"{SINGULAR[plural]}/{name_of(resource)}")
            else:
                say(table(plural, items))


def keyed(batches: list[Batch]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    return [((plural, name_of(resource)), resource) for plural, items in batches for resource in items]


def signature(args: argparse.Namespace, plural: str, resource: dict[str, Any]) -> tuple[Any, ...]:
    headers, row = columns(plural, wide=args.output == "wide")
    cells = row(resource, datetime.now(UTC))
    return tuple(cell for header, cell in zip(headers, cells, strict=True) if header not in VOLATILE)
