"""``hiclaw apply``: manifests from a file or stdin, or one worker or team from flags.

``apply -f`` sends the YAML as is; the controller validates every document and
applies all or none. ``apply worker|team`` creates the resource when it does
not exist and otherwise changes only the fields given.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from controller.cli.client import APIError, Client, CLIError
from controller.cli.commands import say
from controller.cli.commands.compat import FLAGS, add_flags, body_of

EPHEMERAL_LABEL = "hiclaw.io/ephemeral"
WORKER_FLAGS = FLAGS["worker"]
# A team's members are managed with `hiclaw update team --workers` or its manifest, not here.
TEAM_FLAGS = [flag for flag in FLAGS["team"] if flag[0] != "--workers"]


def register(commands: argparse._SubParsersAction) -> None:
    apply = commands.add_parser(
        "apply",
        help="apply manifests (-f FILE|-) or a worker/team from flags",
        description="Apply hiclaw.io/v1beta1 manifests (one or many YAML documents), or a worker or team from flags.",
    )
    apply.add_argument("-f", "--filename", help="manifest file, or - for standard input")
    apply.add_argument("--dry-run", action="store_true", help="validate and report, change nothing")
    apply.set_defaults(handler=apply_manifests)
    kinds = apply.add_subparsers(dest="kind", metavar="KIND")

    worker = kinds.add_parser(
        "worker",
        help="create or update a worker",
        description="Create the worker if it does not exist, else change the given fields.",
    )
    worker.add_argument("--name", required=True)
    add_flags(worker, WORKER_FLAGS)
    worker.add_argument("--team", help="team of a new worker (a worker does not move between teams)")
    worker.add_argument(
        "--ephemeral",
        action="store_true",
        help=f'label the worker {EPHEMERAL_LABEL}: "true" (spec.labels) so cleanup tooling can find it; '
        "the controller itself does not delete it",
    )
    worker.set_defaults(handler=apply_worker)

    team = kinds.add_parser(
        "team",
        help="create or update a team",
        description="Create the team if it does not exist (give --leader-name and --leader-model), "
        "else change the given fields.",
    )
    team.add_argument("--name", required=True)
    add_flags(team, TEAM_FLAGS)
    team.set_defaults(handler=apply_team)


def apply_manifests(args: argparse.Namespace, client: Client) -> int:
    if not args.filename:
        raise CLIError("give -f FILE (or - for standard input), or a kind: hiclaw apply worker|team --help")
    if args.filename == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(args.filename, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CLIError(f"cannot read {args.filename}: {exc.strerror}") from None
    try:
        answer = client.call("POST", "/apply", yaml_text=text, query={"dryRun": "true" if args.dry_run else None})
    except APIError as exc:
        if not exc.details:
            raise
        # Every error the controller found, one per line, then what it means: nothing was applied.
        raise CLIError(f"{len(exc.details)} error(s); nothing was applied", exc.details) from None
    suffix = " (dry run)" if args.dry_run else ""
    for result in answer.get("results", []):
        say(f"{result['kind'].lower()}/{result['name']} {result['action']}{suffix}")
    return 0


def apply_worker(args: argparse.Namespace, client: Client) -> int:
    body = body_of(args, WORKER_FLAGS)
    current = client.find(f"/workers/{args.name}")
    if args.ephemeral:
        labels = dict(((current or {}).get("spec") or {}).get("labels") or {})
        body["labels"] = {**labels, EPHEMERAL_LABEL: "true"}
    if current is not None and args.team and current.get("team") != args.team:
        raise CLIError(
            f"worker/{args.name} is in team {current.get('team') or '(none)'}, not {args.team}; "
            "a worker does not move between teams: delete it and apply it again"
        )
    return _create_or_update(client, "worker", args.name, current, {**body, "team": args.team} if args.team else body)


def apply_team(args: argparse.Namespace, client: Client) -> int:
    current = client.find(f"/teams/{args.name}")
    return _create_or_update(client, "team", args.name, current, body_of(args, TEAM_FLAGS))


def _create_or_update(client: Client, kind: str, name: str, current: dict[str, Any] | None, body: dict) -> int:
    if current is None:
        try:
            client.post(f"/{kind}s", {"name": name, **body})
            say(f"{kind}/{name} created")
            return 0
        except APIError as exc:
            # 409: it exists but this caller may not see it; the update names the rule that refuses it.
            if exc.status != 409:
                raise
    updated = client.put(f"/{kind}s/{name}", {key: value for key, value in body.items() if key != "team"})
    unchanged = current is not None and _generation(current) == _generation(updated)
    say(f"{kind}/{name} {'unchanged' if unchanged else 'configured'}")
    return 0


def _generation(resource: dict[str, Any]) -> Any:
    return (resource.get("metadata") or {}).get("generation")
