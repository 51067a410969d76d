"""The ``hiclaw`` subcommands, one module per area; each ``register``s its parsers.

A handler takes the parsed arguments and a ``Client`` and returns the exit
status; failures are raised as ``CLIError`` and printed by ``main``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from controller.cli.client import Client

Handler = Callable[[argparse.Namespace, Client], int]

# Every spelling a user may type for a kind -> the API's plural.
KIND_NAMES = {
    "worker": "workers",
    "workers": "workers",
    "team": "teams",
    "teams": "teams",
    "human": "humans",
    "humans": "humans",
    "manager": "managers",
    "managers": "managers",
    "debugworker": "debugworkers",
    "debugworkers": "debugworkers",
}
SINGULAR = {plural: plural.removesuffix("s") for plural in set(KIND_NAMES.values())}


def csv(value: str) -> list[str]:
    """A comma-separated flag value (``--skills git,python``) as a list; empty items dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def say(line: str) -> None:
    print(line, flush=True)
