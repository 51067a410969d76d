"""``hiclaw get`` (table, manifest YAML or API JSON) and ``hiclaw delete``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controller.cli import output
from controller.cli.client import Client
from controller.cli.commands import KIND_NAMES, SINGULAR, say

Row = Callable[[dict[str, Any], datetime], list[Any]]


def _created(resource: dict[str, Any], now: datetime) -> str:
    return output.age((resource.get("metadata") or {}).get("creationTimestamp"), now)


def _team_of(resource: dict[str, Any]) -> str:
    return ((resource.get("metadata") or {}).get("annotations") or {}).get("hiclaw.io/team", "")


def _target(debugworker: dict[str, Any]) -> str:
    spec = debugworker.get("spec") or {}
    if spec.get("target"):
        return f"{spec['target'].get('type')}/{spec['target'].get('name')}"
    return ",".join(spec.get("targets") or [])


COLUMNS: dict[str, tuple[list[str], Row]] = {
    "workers": (
        ["name", "team", "role", "phase", "model", "state", "last-heartbeat", "health", "age"],
        lambda r, now: [
            r["name"],
            r.get("team"),
            r.get("role"),
            r.get("phase"),
            r.get("model"),
            r.get("state"),
            output.age(r.get("lastHeartbeat"), now),
            r.get("health"),
            _created(r, now),
        ],
    ),
    "teams": (
        ["name", "phase", "leader", "leader-ready", "workers-ready", "age"],
        lambda r, now: [
            r["name"],
            r.get("phase"),
            r.get("leaderName"),
            "yes" if r.get("leaderReady") else "no",
            f"{r.get('readyWorkers', 0)}/{r.get('totalWorkers', 0)}",
            _created(r, now),
        ],
    ),
    "humans": (
        ["name", "phase", "display-name", "email", "level", "age"],
        lambda r, now: [
            r["name"],
            r.get("phase"),
            r.get("displayName"),
            r.get("email"),
            r.get("permissionLevel"),
            _created(r, now),
        ],
    ),
    "managers": (
        ["name", "phase", "model", "runtime", "state", "version", "age"],
        lambda r, now: [
            r["name"],
            r.get("phase"),
            r.get("model"),
            r.get("runtime"),
            r.get("state"),
            r.get("version"),
            _created(r, now),
        ],
    ),
    "debugworkers": (
        ["name", "team", "phase", "target", "retention", "age"],
        lambda r, now: [
            r["metadata"]["name"],
            _team_of(r),
            (r.get("status") or {}).get("phase"),
            _target(r),
            (r.get("spec") or {}).get("retention"),
            _created(r, now),
        ],
    ),
}


def register(commands: argparse._SubParsersAction) -> None:
    get = commands.add_parser(
        "get",
        help="list resources, or show one",
        description="List resources of a kind, or show one by name. -o yaml prints manifests to apply back.",
    )
    get.add_argument("kind", choices=sorted(KIND_NAMES), metavar="KIND", help="workers, teams, humans, managers, …")
    get.add_argument("name", nargs="?", help="one resource by name")
    get.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    get.add_argument("--team", help="only resources of this team (workers, teams, debugworkers)")
    get.add_argument("--phase", help="only resources in this phase")
    get.add_argument("--chunk-size", type=int, help="fetch lists in pages of this many (default: the server's 100)")
    get.set_defaults(handler=get_resources)

    delete = commands.add_parser(
        "delete", help="delete a resource", description="Ask the controller to delete a resource."
    )
    delete.add_argument("kind", choices=sorted(KIND_NAMES), metavar="KIND", help="worker, team, human, …")
    delete.add_argument("name")
    delete.set_defaults(handler=delete_resource)


def get_resources(args: argparse.Namespace, client: Client) -> int:
    plural = KIND_NAMES[args.kind]
    if args.name:
        resources = [client.get(f"/{plural}/{args.name}")]
    else:
        resources = client.list_all(plural, {"team": args.team, "phase": args.phase, "limit": args.chunk_size})
    if args.output == "json":
        say(output.to_json(resources[0] if args.name else {plural: resources, "total": len(resources)}))
    elif args.output == "yaml":
        if resources:
            say(output.to_yaml([output.manifest(resource) for resource in resources]))
    elif resources or args.name:
        headers, row = COLUMNS[plural]
        now = datetime.now(UTC)
        say(output.table(headers, (row(resource, now) for resource in resources)))
    else:
        print(f"No {plural} found.", file=sys.stderr)  # stdout stays empty for scripts
    return 0


def delete_resource(args: argparse.Namespace, client: Client) -> int:
    plural = KIND_NAMES[args.kind]
    client.delete(f"/{plural}/{args.name}")
    say(f"{SINGULAR[plural]}/{args.name} deletion requested")
    return 0
