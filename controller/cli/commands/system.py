"""``hiclaw config push``, ``hiclaw debug …``, ``hiclaw status`` and ``hiclaw version``."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from controller.cli import output
from controller.cli.client import Client
from controller.cli.commands import add_name, say
from controller.cli.commands import debug as debug_jobs
from controller.cli.commands.columns import COLUMNS


def cli_version() -> str:
    try:
        return version("hiclaw-controller")
    except PackageNotFoundError:
        return "unknown (not installed as a package)"


def register(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser("config", help="push configuration to workers", description="Worker configuration.")
    config_actions = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    push = config_actions.add_parser(
        "push",
        help="push config and skills to running workers",
        description="Ask the controller to push current config and skills to workers without restarting them.",
    )
    target = push.add_mutually_exclusive_group(required=True)
    target.add_argument("--worker", help="one worker")
    target.add_argument("--team", help="every worker of a team")
    target.add_argument("--apply-to-all", action="store_true", help="every worker (admin and manager only)")
    push.set_defaults(handler=config_push)

    debug = commands.add_parser(
        "debug", help="DebugWorkers: create, list, delete, exports and reports", description="DebugWorkers."
    )
    debug_actions = debug.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = debug_actions.add_parser(
        "create",
        help="create a DebugWorker",
        description="Create a DebugWorker mirroring a team's (or some workers') workspaces. A team leader's "
        "DebugWorker targets its own team and gets its Matrix credential from the controller.",
    )
    create.add_argument("--name", required=True)
    create.add_argument("--team", help="the team to debug")
    create.add_argument(
        "--target-worker", dest="targets", action="extend", nargs="+", metavar="WORKER", help="workers to debug"
    )
    create.add_argument(
        "--allowed-user", dest="allowed_users", action="extend", nargs="+", metavar="MXID", help="who may use it"
    )
    create.add_argument("--retention", help="how long to keep it, e.g. 24h (0: until deleted; default 72h)")
    create.set_defaults(handler=debug_create)
    listing = debug_actions.add_parser("list", help="list DebugWorkers", description="List DebugWorkers.")
    listing.add_argument("--team", help="only this team's")
    listing.set_defaults(handler=debug_list)
    delete = debug_actions.add_parser("delete", help="delete a DebugWorker", description="Delete a DebugWorker.")
    add_name(delete, "the DebugWorker")
    delete.set_defaults(handler=debug_delete)
    debug_jobs.register(debug_actions)

    status = commands.add_parser(
        "status",
        help="resource counts and services",
        description="Resources you may see, by kind and phase, and (admin, manager) whether services answer.",
    )
    status.set_defaults(handler=controller_status)
    about = commands.add_parser("version", help="CLI and controller versions", description="CLI and server versions.")
    about.set_defaults(handler=show_version, needs_token=False)


def config_push(args: argparse.Namespace, client: Client) -> int:
    if args.apply_to_all:
        body: dict = {"all": True}
    else:
        body = {"worker": args.worker} if args.worker else {"team": args.team}
    push = client.post("/config/push", body)
    targets = push.get("targets") or []
    say(f"config push {push.get('id')} queued for {len(targets)} worker(s): {', '.join(targets) or '(none)'}")
    return 0


def debug_create(args: argparse.Namespace, client: Client) -> int:
    body: dict = {"name": args.name}
    if args.team:
        body["team"] = args.team
    if args.targets:
        body["targets"] = args.targets
    if args.allowed_users:
        body["allowedUsers"] = args.allowed_users
    if args.retention:
        body["retention"] = args.retention
    client.post("/debugworkers", body)
    say(f"debugworker/{args.name} created")
    return 0


def debug_list(args: argparse.Namespace, client: Client) -> int:
    resources = client.list_all("debugworkers", {"team": args.team})
    headers, row = COLUMNS["debugworkers"]
    now = datetime.now(UTC)
    say(output.table(headers, (row(resource, now) for resource in resources)))
    return 0


def debug_delete(args: argparse.Namespace, client: Client) -> int:
    client.delete(f"/debugworkers/{args.name}")
    say(f"debugworker/{args.name} deletion requested")
    return 0


def controller_status(args: argparse.Namespace, client: Client) -> int:
    answer = client.get("/status")
    say(f"backend: {answer.get('backend')}")
    if "storage" in answer:
        say(f"storage: {'ok' if answer['storage'].get('ok') else 'NOT ANSWERING'}")
    for service in ("matrix", "gateway"):
        if service in answer:
            state = answer[service]
            if not state.get("enabled"):
                say(f"{service}: disabled")
            else:
                say(f"{service}: enabled" + ("" if "ok" not in state else " ok" if state["ok"] else " NOT ANSWERING"))
    rows = []
    for kind, phases in (answer.get("resources") or {}).items():
        summary = ", ".join(f"{phase} {count}" for phase, count in sorted(phases.items()))
        rows.append([kind, sum(phases.values()), summary])
    say(output.table(["kind", "total", "phases"], rows))
    return 0


def show_version(args: argparse.Namespace, client: Client) -> int:
    say(f"hiclaw CLI {cli_version()}")
    server = client.get("/version")
    say(f"controller {server.get('version')} (API {server.get('apiVersion')})")
    return 0
