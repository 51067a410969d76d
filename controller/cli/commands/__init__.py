"""The ``hiclaw`` subcommands, one module per area; each ``register``s its parsers.

A handler takes the parsed arguments and a ``Client`` and returns the exit
status; failures are raised as ``CLIError`` and printed by ``main``.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable

from controller.cli.client import Client, CLIError

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


class UsageError(CLIError):
    """A command line the parser accepted but that cannot mean anything: exit status 2, as argparse's."""


def did_you_mean(word: str, choices: list[str]) -> str:
    """`` (did you mean 'workers'?)`` for the closest choice, or nothing when none is close."""
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def kind_argument(value: str) -> str:
    """A kind as typed (``worker``, ``Workers``) -> the API's plural; a typo gets a suggestion."""
    plural = KIND_NAMES.get(value.lower())
    if plural is None:
        hint = did_you_mean(value, sorted(KIND_NAMES))
        raise argparse.ArgumentTypeError(f"unknown kind {value!r}{hint or '; kinds: ' + ', '.join(sorted(SINGULAR))}")
    return plural
