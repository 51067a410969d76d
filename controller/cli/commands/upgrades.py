"""``hiclaw upgrades``: config/skills pushes and image rollouts, as a table or one in detail.

``hiclaw upgrades`` and ``hiclaw upgrades list`` list them (newest first);
``hiclaw upgrades get ID`` shows one with each target. The actions on a running
upgrade (pause, resume, abort) live in a module of their own and register on
the same ``ACTION`` subparsers (``register`` below hands them over), so
``hiclaw upgrades pause ID`` sits beside ``list`` and ``get``. A bare
``hiclaw upgrades ID`` is not offered: argparse cannot tell an id from an
action name without guessing.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from controller.cli import output
from controller.cli.client import Client
from controller.cli.commands import rollout_actions, say

LIST_HEADERS = ["id", "kind", "scope", "target", "state", "progress", "age"]
TARGET_HEADERS = ["#", "worker", "state", "started", "finished", "from-image", "message"]
FORMATS = ("table", "yaml", "json")


def register(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add ``upgrades`` and its actions: ``list``, ``get``, and a rollout's ``pause``/``resume``/``abort``."""
    upgrades = commands.add_parser(
        "upgrades",
        help="config/skills pushes and image rollouts",
        description="Pushes and rollouts you may see, newest first. Without ACTION: the list as a table "
        "(`upgrades list` takes filters and -o).",
    )
    upgrades.set_defaults(handler=list_upgrades, output="table", kind=None, state=None, team=None)
    actions = upgrades.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="list upgrades", description="List pushes and rollouts, newest first.")
    listing.add_argument("-o", "--output", choices=FORMATS, default="table")
    _list_filters(listing)
    listing.set_defaults(handler=list_upgrades)
    get = actions.add_parser("get", help="one upgrade with its targets", description="Show one upgrade by id.")
    get.add_argument("id", type=int, help="the upgrade's id (the first column of the list)")
    get.add_argument("-o", "--output", choices=FORMATS, default="table")
    get.set_defaults(handler=show_upgrade)
    rollout_actions.add_actions(actions)  # pause, resume, abort
    return actions


def _list_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=("push", "rollout"), help="only pushes or only rollouts")
    parser.add_argument(
        "--state",
        type=str.capitalize,  # every state is one capitalised word: `--state running` finds Running
        help="only upgrades in this state (Pending, Running, Paused, Done, …), whatever the case",
    )
    parser.add_argument("--team", help="only this team's")


def progress(upgrade: dict[str, Any]) -> str:
    """``done/total``, and how many failed when any did."""
    counts = upgrade.get("progress") or {}
    text = f"{counts.get('done', 0)}/{counts.get('total', 0)}"
    return f"{text} ({counts['failed']} failed)" if counts.get("failed") else text


def list_upgrades(args: argparse.Namespace, client: Client) -> int:
    upgrades = client.list_all("upgrades", {"kind": args.kind, "state": args.state, "team": args.team})
    if args.output != "table":
        _dump(args.output, {"upgrades": upgrades, "total": len(upgrades)})
    elif upgrades:
        now = datetime.now(UTC)
        rows = [
            [u["id"], u["kind"], u["scope"], u.get("target"), u["state"], progress(u), output.age(u["createdAt"], now)]
            for u in upgrades
        ]
        say(output.table(LIST_HEADERS, rows))
    else:
        print("No upgrades found.", file=sys.stderr)  # stdout stays empty for scripts
    return 0


def show_upgrade(args: argparse.Namespace, client: Client) -> int:
    upgrade = client.get(f"/upgrades/{args.id}")
    if args.output != "table":
        _dump(args.output, upgrade)
        return 0
    now = datetime.now(UTC)
    facts = [
        ("id", upgrade["id"]),
        ("kind", upgrade["kind"]),
        ("scope", f"{upgrade['scope']} {upgrade.get('target') or ''}".strip()),
        ("state", upgrade["state"]),
        ("progress", progress(upgrade)),
        ("image" if upgrade["kind"] == "rollout" else "version", upgrade.get("image") or upgrade.get("version")),
        ("requested by", upgrade.get("requestedBy")),
        ("created", f"{output.age(upgrade['createdAt'], now)} ago"),
    ]
    if upgrade["kind"] == "rollout":
        facts.append(("max unavailable", upgrade.get("maxUnavailable")))
    if upgrade.get("message"):
        facts.append(("message", upgrade["message"]))
    width = max(len(name) for name, _ in facts)
    for name, value in facts:
        say(f"{name + ':':<{width + 1}} {output.NONE if value in (None, '') else value}")
    targets = upgrade.get("targets") or []
    if targets:
        say("")
        rows = [
            [
                t["position"],
                t["worker"],
                t["state"],
                output.age(t.get("startedAt"), now),
                output.age(t.get("finishedAt"), now),
                t.get("fromImage"),
                t.get("message"),
            ]
            for t in targets
        ]
        say(output.table(TARGET_HEADERS, rows))
    return 0


def _dump(form: str, value: Any) -> None:
    say(output.to_json(value) if form == "json" else output.to_yaml([value]))
