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


def add_name(parser: argparse.ArgumentParser, what: str = "the worker") -> None:
    """``NAME`` or ``--name NAME``, either way (kubectl takes the name as an argument; the original
    CLI as a flag); ``resolve_name`` merges them once parsed."""
    parser.add_argument("name", nargs="?", metavar="NAME", help=f"{what} (or --name)")
    parser.add_argument(
        "--name", dest="name_flag", metavar="NAME", help="the same as NAME, as the original CLI took it"
    )
    parser.set_defaults(name_required=what)


def resolve_name(args: argparse.Namespace) -> None:
    flag = getattr(args, "name_flag", None)
    if flag is not None and args.name is not None and flag != args.name:
        raise UsageError(f"name: given twice, as {args.name!r} and --name {flag!r}")
    if flag is not None:
        args.name = flag
    if getattr(args, "name_required", None) and not args.name:
        raise UsageError(f"name: {args.name_required}'s name is required (NAME or --name NAME)")
