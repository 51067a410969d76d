"""Entry point of the ``hiclaw`` console script: argparse wiring and error reporting.

Every failure ends as one ``error: …`` line on stderr (preceded by one line per
manifest error when the controller lists them) and exit status 1; usage
mistakes exit 2, as argparse does.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from controller.cli.client import TOKEN_FILE_VARIABLE, TOKEN_VARIABLES, Client, CLIError, settings_from_env
from controller.cli.commands import (
    UsageError,
    apply,
    compat,
    completion,
    describe,
    did_you_mean,
    get,
    logs,
    resolve_name,
    system,
    upgrades,
    worker,
)

EPILOG = """environment:
  HICLAW_CONTROLLER_URL   the controller, e.g. http://127.0.0.1:8000 (required)
  HICLAW_AGENT_TOKEN, HICLAW_ADMIN_TOKEN, HICLAW_AUTH_TOKEN
                          bearer token, the first one set is used
  HICLAW_AUTH_TOKEN_FILE  file holding the token, if none of those is set
"""


# argparse's own wording for a word that is not one of a command's choices.
INVALID_CHOICE = re.compile(r"invalid choice: '(?P<word>[^']*)' \(choose from (?P<choices>.*)\)")


class Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" added when a command or an option's value is mistyped."""

    def error(self, message: str) -> NoReturn:
        found = INVALID_CHOICE.search(message)
        if found:
            choices = re.findall(r"'([^']*)'", found["choices"])
            message += did_you_mean(found["word"], choices)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hiclaw",
        description="Drive a HiClaw controller through its REST API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for area in (apply, get, describe, logs, completion, compat, worker, system, upgrades):
        area.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.root_parser = parser  # `hiclaw completion` describes the whole command line
    try:
        resolve_name(args)
        if not getattr(args, "needs_controller", True):
            return args.handler(args, None)
        settings = settings_from_env(os.environ)
        if not settings.token and getattr(args, "needs_token", True):
            raise CLIError(f"no API token: set {' or '.join(TOKEN_VARIABLES)}, or {TOKEN_FILE_VARIABLE} to a file")
        return args.handler(args, Client(settings))
    except UsageError as exc:
        print(f"hiclaw: error: {exc.message}", file=sys.stderr)
        return 2
    except CLIError as exc:
        for detail in exc.details:
            print(f"error: {detail}", file=sys.stderr)
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`hiclaw get workers | head -1`): nothing more to say to it, and
        # Python's flush of stdout at exit must not fail again into a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
