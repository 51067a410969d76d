"""``hiclaw create|update worker|team|human|manager``: the original HiClaw CLI's verbs.

Flags map one to one onto the flat JSON bodies of ``POST /{kind}s`` and
``PUT /{kind}s/{name}`` (docs/api.md); a flag left out is left unchanged on
update. List flags are comma-separated (``--skills git,python``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from controller.cli.client import Client
from controller.cli.commands import csv, say


def ports(value: str) -> list[int]:
    try:
        numbers = [int(item) for item in csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"give port numbers separated by commas, got {value!r}") from None
    if any(not 0 < number < 65536 for number in numbers):
        raise argparse.ArgumentTypeError(f"ports are 1-65535, got {value!r}")
    return numbers


def level(value: str) -> int:
    if value not in ("1", "2", "3"):
        raise argparse.ArgumentTypeError("1 (admin), 2 (team admin) or 3 (worker user)")
    return int(value)


# (flag, body field, type, help) per kind; the body field is also the argparse dest.
Flag = tuple[str, str, Callable[[str], Any], str]
AGENT_FLAGS: list[Flag] = [
    ("--model", "model", str, "LLM model name"),
    ("--runtime", "runtime", str, "openclaw, copaw or hermes"),
    ("--image", "image", str, "container image"),
    ("--soul", "soul", str, "SOUL.md text"),
    ("--skills", "skills", csv, "skills, comma-separated"),
    ("--mcp-servers", "mcpServers", csv, "MCP servers, comma-separated"),
]
FLAGS: dict[str, list[Flag]] = {
    "worker": [*AGENT_FLAGS, ("--expose", "expose", ports, "ports to expose, comma-separated numbers")],
    "team": [
        ("--description", "description", str, "what the team does"),
        ("--image", "image", str, "default image of the leader and workers"),
        ("--leader-name", "leaderName", str, "the team leader's worker name"),
        ("--leader-model", "leaderModel", str, "the team leader's model (also the default of --workers)"),
        ("--workers", "workers", csv, "member worker names, comma-separated (sets the member list)"),
    ],
    "human": [
        ("--display-name", "displayName", str, "name shown in Matrix"),
        ("--email", "email", str, "where the invitation goes"),
        ("--permission-level", "permissionLevel", level, "1 admin, 2 team admin, 3 worker user"),
        ("--accessible-teams", "accessibleTeams", csv, "teams, comma-separated"),
        ("--accessible-workers", "accessibleWorkers", csv, "workers, comma-separated"),
        ("--note", "note", str, "free text"),
    ],
    "manager": AGENT_FLAGS,
}
TEAM_FLAG: Flag = ("--team", "team", str, "make the worker a member of this team")


def add_flags(parser: argparse.ArgumentParser, flags: list[Flag]) -> None:
    for flag, field, kind, text in flags:
        parser.add_argument(flag, dest=field, type=kind, help=text)


def body_of(args: argparse.Namespace, flags: list[Flag]) -> dict[str, Any]:
    """The flat request body: only the flags that were given."""
    return {field: getattr(args, field) for _, field, _, _ in flags if getattr(args, field) is not None}


def register(commands: argparse._SubParsersAction) -> None:
    for verb, handler in (("create", create), ("update", update)):
        parser = commands.add_parser(
            verb,
            help=f"{verb} a worker, team, human or manager from flags",
            description=f"{verb.capitalize()} a resource from flags, as the original hiclaw CLI did.",
        )
        kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
        for kind, flags in FLAGS.items():
            flags = [*flags, TEAM_FLAG] if (verb, kind) == ("create", "worker") else flags
            sub = kinds.add_parser(kind, help=f"{verb} a {kind}", description=f"{verb.capitalize()} a {kind}.")
            sub.add_argument("--name", required=True)
            add_flags(sub, flags)
            sub.set_defaults(handler=handler, flags=flags)


def create(args: argparse.Namespace, client: Client) -> int:
    created = client.post(f"/{args.kind}s", {"name": args.name, **body_of(args, args.flags)})
    say(f"{args.kind}/{args.name} created")
    if created.get("initialPassword"):
        # The controller keeps no copy: this is the only time it can be shown.
        say(f"initial password (shown once): {created['initialPassword']}")
    return 0


def update(args: argparse.Namespace, client: Client) -> int:
    client.put(f"/{args.kind}s/{args.name}", body_of(args, args.flags))
    say(f"{args.kind}/{args.name} configured")
    return 0
