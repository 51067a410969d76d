"""``hiclaw get`` (tables, names, manifest YAML, API JSON, JSONPath; ``--watch``) and ``hiclaw delete``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from controller.cli import jsonpath, output
from controller.cli.client import Client, CLIError
from controller.cli.commands import SINGULAR, UsageError, did_you_mean, kind_argument, say
from controller.cli.commands.columns import columns, name_of
from controller.cli.commands.selectors import select
from controller.cli.commands.watch import follow

ALL = ("workers", "teams", "humans", "managers", "debugworkers")
TEAM_FILTERED = ("workers", "teams", "debugworkers")  # the kinds the API filters by team
FORMATS = ("table", "wide", "name", "yaml", "json")
Batch = tuple[str, list[dict[str, Any]]]


def output_format(value: str) -> str:
    """``-o``: one of ``FORMATS`` or ``jsonpath=TEMPLATE`` (the template checked here, before any request)."""
    if value.startswith("jsonpath="):
        try:
            jsonpath.parse(value.removeprefix("jsonpath="))
        except jsonpath.JSONPathError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    if value not in FORMATS:
        hint = did_you_mean(value, [*FORMATS, "jsonpath"])
        raise argparse.ArgumentTypeError(f"unknown format {value!r}{hint or '; use ' + ', '.join(FORMATS)}")
    return value


def kind_or_all(value: str) -> str:
    return "all" if value.lower() == "all" else kind_argument(value)


def register(commands: argparse._SubParsersAction) -> None:
    get = commands.add_parser(
        "get",
        help="list resources, or show one",
        description="List resources of a kind (or `all`), or show one by name. -o yaml prints manifests to apply back.",
    )
    get.add_argument("kind", type=kind_or_all, metavar="KIND", help="workers, teams, humans, managers, … or all")
    get.add_argument("name", nargs="?", help="one resource by name")
    get.add_argument(
        "-o", "--output", type=output_format, default="table", help="table, wide, name, yaml, json, jsonpath=TEMPLATE"
    )
    get.add_argument("-l", "--selector", help="only resources with these labels: key=value,key!=value,key,!key")
    get.add_argument("--team", help="only resources of this team (workers, teams, debugworkers)")
    get.add_argument("--phase", help="only resources in this phase, whatever the case (running, Failed, …)")
    get.add_argument("-w", "--watch", action="store_true", help="after the list, print rows again as they change")
    get.add_argument("--interval", type=float, default=2.0, help="seconds between polls with --watch (default 2)")
    get.add_argument("--chunk-size", type=int, help="fetch lists in pages of this many (default: the server's 100)")
    get.set_defaults(handler=get_resources)

    delete = commands.add_parser(
        "delete", help="delete a resource", description="Ask the controller to delete a resource."
    )
    delete.add_argument("kind", type=kind_argument, metavar="KIND", help="worker, team, human, …")
    delete.add_argument("name")
    delete.set_defaults(handler=delete_resource)


def get_resources(args: argparse.Namespace, client: Client) -> int:
    if args.kind == "all" and args.name:
        raise UsageError("name: `get all` lists every kind; name a kind to get one resource")
    if args.watch and args.output not in ("table", "wide", "name"):
        raise UsageError("output: --watch prints table, wide or name rows")
    batches = fetch(args, client)
    print_batches(args, batches)
    if args.watch:
        follow(
            args,
            batches,
            fetch=lambda: fetch(args, client),
            table=lambda plural, items: table(args, plural, items, datetime.now(UTC), header=False),
        )
    return 0


def plurals_of(args: argparse.Namespace) -> list[str]:
    if args.kind != "all":
        return [args.kind]
    return [plural for plural in ALL if not args.team or plural in TEAM_FILTERED]


def fetch(args: argparse.Namespace, client: Client) -> list[Batch]:
    if args.name:
        return [(args.kind, [client.get(f"/{args.kind}/{args.name}")])]
    query = {"team": args.team, "limit": args.chunk_size}
    return [(plural, select(client.list_all(plural, query), args.selector, args.phase)) for plural in plurals_of(args)]


def print_batches(args: argparse.Namespace, batches: list[Batch]) -> None:
    resources = [resource for _, items in batches for resource in items]
    if args.output.startswith("jsonpath="):
        data = resources[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": resources}
        try:
            say(jsonpath.render(args.output.removeprefix("jsonpath="), data))
        except jsonpath.JSONPathError as exc:
            raise CLIError(str(exc)) from None
    elif args.output == "json":
        say(output.to_json(json_body(args, batches)))
    elif args.output == "yaml":
        if resources:
            say(output.to_yaml([output.manifest(resource) for resource in resources]))
    elif args.output == "name":
        for plural, items in batches:
            for resource in items:
                say(f"{SINGULAR[plural]}/{name_of(resource)}")
    elif resources or args.name:
        now = datetime.now(UTC)
        tables = [table(args, plural, items, now) for plural, items in batches if items]
        say("\n\n".join(tables))
    if not resources and not args.name:
        print(f"No {'resources' if args.kind == 'all' else args.kind} found.", file=sys.stderr)


def json_body(args: argparse.Namespace, batches: list[Batch]) -> Any:
    if args.name:
        return batches[0][1][0]
    if args.kind == "all":
        return {"apiVersion": "v1", "kind": "List", "items": [r for _, items in batches for r in items]}
    items = batches[0][1]
    return {args.kind: items, "total": len(items)}


def table(
    args: argparse.Namespace, plural: str, items: list[dict[str, Any]], now: datetime, header: bool = True
) -> str:
    headers, row = columns(plural, wide=args.output == "wide")
    rows = [row(resource, now) for resource in items]
    if args.kind == "all":  # kinds side by side: each name says its kind, as kubectl's `get all`
        rows = [[f"{SINGULAR[plural]}/{cells[0]}", *cells[1:]] for cells in rows]
    text = output.table(headers, rows)
    return text if header else "\n".join(text.splitlines()[1:])


def delete_resource(args: argparse.Namespace, client: Client) -> int:
    client.delete(f"/{args.kind}/{args.name}")
    say(f"{SINGULAR[args.kind]}/{args.name} deletion requested")
    return 0
