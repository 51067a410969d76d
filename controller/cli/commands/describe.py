"""``hiclaw describe KIND NAME`` and ``hiclaw events [KIND NAME]``: one resource as people read it
(spec, status, conditions, recent events), kubectl-describe style, and the event history alone.

Events come from ``GET /{kind}s/{name}/events``: the controller's Events (crashes with their exit
code, OOM kills, restarts) and the audit records of actions on the resource, newest first. A
Team's are its members' too, each naming its resource (``about``), shown as the OBJECT column.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from controller.cli import output
from controller.cli.client import Client
from controller.cli.commands import SINGULAR, UsageError, kind_argument, say

LABEL_WIDTH = 16
# Flat fields of the answer (a Worker's, a Manager's) worth a line of their own, when present.
RUNTIME_FIELDS = (
    ("team", "Team"),
    ("state", "Desired state"),
    ("containerState", "Container"),
    ("health", "Health"),
    ("lastHeartbeat", "Last heartbeat"),
    ("restarts", "Restarts"),
    ("lastExitCode", "Last exit code"),
    ("lastExitReason", "Last exit"),
)
EVENT_HEADERS = ["type", "reason", "age", "from", "message"]
# Kinds whose instances crash and restart; `events` with no kind walks these.
EVENTFUL = ("workers", "managers", "debugworkers")
STATUS_SKIPPED = ("conditions", "phase", "message")


def register(commands: argparse._SubParsersAction) -> None:
    describe = commands.add_parser(
        "describe",
        help="show one resource in detail, with its conditions and recent events",
        description="Spec, status, conditions and recent events (crashes, restarts, actions on it) of one resource.",
    )
    describe.add_argument("kind", type=kind_argument, metavar="KIND", help="worker, team, human, manager, debugworker")
    describe.add_argument("name")
    describe.add_argument("--events", type=int, default=20, help="how many recent events to show (default 20)")
    describe.set_defaults(handler=describe_resource)

    events = commands.add_parser(
        "events",
        help="recent events of one resource, or of every worker, manager and debugworker you may see",
        description="Events (Crashed, OOMKilled, Restarted, with exit codes) and the actions taken, newest first.",
    )
    events.add_argument("kind", nargs="?", type=kind_argument, metavar="KIND")
    events.add_argument("name", nargs="?")
    events.add_argument("--limit", type=int, default=20, help="events per resource, 1-200 (default 20)")
    events.add_argument("-o", "--output", choices=("table", "json"), default="table")
    events.set_defaults(handler=list_events)


def fetch_events(client: Client, plural: str, name: str, limit: int) -> list[dict[str, Any]]:
    return client.get(f"/{plural}/{name}/events", {"limit": limit})["events"]


def event_rows(events: list[dict[str, Any]], now: datetime, with_object: bool = False) -> list[list[Any]]:
    rows = []
    for event in events:
        message = event.get("message") or ""
        if event.get("exitCode") is not None:
            message = f"{message} (exit code {event['exitCode']})".strip()
        row = [event.get("type"), event.get("reason"), output.age(event.get("at"), now), _source(event), message]
        rows.append([event["object"], *row] if with_object else row)
    return rows


def _source(event: dict[str, Any]) -> str:
    return "audit" if event.get("source") == "audit" else "controller"


def describe_resource(args: argparse.Namespace, client: Client) -> int:
    resource = client.get(f"/{args.kind}/{args.name}")
    events = fetch_events(client, args.kind, args.name, args.events) if args.events > 0 else []
    say(render(resource, events, datetime.now(UTC)))
    return 0


def render(resource: dict[str, Any], events: list[dict[str, Any]], now: datetime) -> str:
    metadata = resource.get("metadata") or {}
    status = resource.get("status") or {}
    created = metadata.get("creationTimestamp")
    lines = [
        _field("Name", metadata.get("name")),
        _field("Kind", resource.get("kind")),
        _field("Labels", _pairs(metadata.get("labels"))),
        _field("Annotations", _pairs(metadata.get("annotations"))),
        _field("Created", f"{created} ({output.age(created, now)} ago)" if created else None),
    ]
    if metadata.get("deletionTimestamp"):
        lines.append(_field("Deleting since", metadata["deletionTimestamp"]))
    lines += [_field("Phase", status.get("phase")), _field("Message", status.get("message"))]
    lines += [_field(label, resource[key]) for key, label in RUNTIME_FIELDS if key in resource]
    lines += ["Spec:", _indented(resource.get("spec") or {})]
    rest = {key: value for key, value in status.items() if key not in STATUS_SKIPPED}
    if rest:
        lines += ["Status:", _indented(rest)]
    lines.append("Conditions:")
    lines.append(_indented_table(["type", "status", "reason", "last-transition", "message"], _conditions(status, now)))
    lines.append("Events:")
    if any(event.get("about") for event in events):  # a Team's: its members' too, each named
        named = [{**event, "object": event.get("about", "")} for event in events]
        lines.append(_indented_table(["object", *EVENT_HEADERS], event_rows(named, now, with_object=True)))
    else:
        lines.append(_indented_table(EVENT_HEADERS, event_rows(events, now)))
    return "\n".join(lines)


def _field(label: str, value: Any) -> str:
    return f"{label + ':':<{LABEL_WIDTH}}{output.NONE if value in (None, '') else value}"


def _pairs(mapping: dict[str, str] | None) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted((mapping or {}).items()))


def _indented(value: dict[str, Any]) -> str:
    if not value:
        return f"  {output.NONE}"
    return "\n".join(f"  {line}" for line in output.to_yaml([value]).splitlines())


def _conditions(status: dict[str, Any], now: datetime) -> list[list[Any]]:
    return [
        [
            c.get("type"),
            c.get("status"),
            c.get("reason"),
            output.age(c.get("lastTransitionTime"), now),
            c.get("message"),
        ]
        for c in status.get("conditions") or []
    ]


def _indented_table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return f"  {output.NONE}"
    return "\n".join(f"  {line}" for line in output.table(headers, rows).splitlines())


def list_events(args: argparse.Namespace, client: Client) -> int:
    if args.kind and not args.name:
        raise UsageError(f"name: `hiclaw events {SINGULAR[args.kind]}` needs the resource's name")
    targets = [(args.kind, args.name)] if args.kind else _eventful(client)
    events = []
    for plural, name in targets:
        for event in fetch_events(client, plural, name, args.limit):
            events.append({**event, "object": event.get("about") or f"{SINGULAR[plural]}/{name}"})
    events.sort(key=lambda event: event.get("at") or "", reverse=True)
    if args.output == "json":
        say(output.to_json({"events": events}))
    elif events:
        say(output.table(["object", *EVENT_HEADERS], event_rows(events, datetime.now(UTC), with_object=True)))
    else:
        print("No events found.", file=sys.stderr)
    return 0


def _eventful(client: Client) -> list[tuple[str, str]]:
    return [
        (plural, (item.get("metadata") or {}).get("name") or item["name"])
        for plural in EVENTFUL
        for item in client.list_all(plural)
    ]
