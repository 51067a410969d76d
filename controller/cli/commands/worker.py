"""``hiclaw worker …``: status, wake, sleep, ensure-ready, idle check, and an agent's ready
report with an optional heartbeat loop."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

from controller.cli import output
from controller.cli.client import APIError, Client, CLIError, TransportError
from controller.cli.commands import add_name, say

# The HTTP call outlives the server-side wait, so the server's "timed out" answer arrives.
ENSURE_READY_SLACK = 15.0


def register(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser(
        "worker", help="worker lifecycle: status, wake, sleep, ensure-ready, …", description="Worker lifecycle."
    )
    actions = worker.add_subparsers(dest="action", metavar="ACTION", required=True)

    status = actions.add_parser(
        "status",
        help="phase, state and health of workers",
        description="Phase, desired state, container state, last heartbeat and health (ok, late or missed) "
        "of one worker, a team's workers, or every worker you may see.",
    )
    scope = status.add_mutually_exclusive_group()
    scope.add_argument("--name", help="one worker")
    scope.add_argument("--team", help="the workers of one team")
    status.add_argument("-o", "--output", choices=("table", "json"), default="table")
    status.set_defaults(handler=worker_status)

    for verb, text in (
        ("wake", "set a worker's desired state to Running"),
        ("sleep", "set a worker's desired state to Sleeping"),
    ):
        parser = actions.add_parser(verb, help=text, description=f"{text[0].upper()}{text[1:]}.")
        add_name(parser)
        parser.set_defaults(handler=set_state, verb=verb)

    ensure = actions.add_parser(
        "ensure-ready",
        help="wake a worker and wait until it runs",
        description="Wake the worker if needed and wait until its phase is Running; exit 1 if not in time.",
    )
    add_name(ensure)
    ensure.add_argument("--timeout", type=int, default=60, help="seconds to wait, 0-300 (default 60)")
    ensure.set_defaults(handler=ensure_ready)

    idle = actions.add_parser(
        "check-idle",
        help="idle time and time left before workers are put to sleep",
        description="How long each worker has been idle and how long until the idle timeout puts it to sleep.",
    )
    idle.add_argument("--team", help="the workers of one team (default: every worker you may see)")
    idle.add_argument("-o", "--output", choices=("table", "json"), default="table")
    idle.set_defaults(handler=check_idle)

    ready = actions.add_parser(
        "report-ready",
        help="report this worker ready (agents), optionally keep sending heartbeats",
        description="Report the worker ready. With --heartbeat, keep posting heartbeats every --interval seconds "
        "until interrupted (SIGINT/SIGTERM) or --count heartbeats were sent.",
    )
    add_name(ready)
    ready.add_argument("--heartbeat", action="store_true", help="keep sending heartbeats after the report")
    ready.add_argument("--interval", type=float, default=60.0, help="seconds between heartbeats (default 60)")
    ready.add_argument("--count", type=int, help="stop after this many heartbeats (default: until interrupted)")
    ready.add_argument("--state", choices=("idle", "busy"), default="idle", help="state sent with each heartbeat")
    ready.set_defaults(handler=report_ready)


def worker_status(args: argparse.Namespace, client: Client) -> int:
    if args.name:
        lines = [client.get(f"/workers/{args.name}/status")]
    else:
        lines = client.get("/workers/status", {"team": args.team}).get("workers", [])
    if args.output == "json":
        say(output.to_json(lines[0] if args.name else {"workers": lines}))
        return 0
    now = datetime.now(UTC)
    headers = ["name", "team", "phase", "state", "ready", "container", "healthy", "health", "last-heartbeat", "message"]
    rows = [
        [
            line["name"],
            line.get("team"),
            line.get("phase"),
            line.get("state"),
            _yes_no(line.get("ready")),
            line.get("containerState"),
            _yes_no(line.get("healthy")),
            line.get("health"),
            output.age(line.get("lastHeartbeat"), now),
            line.get("message"),
        ]
        for line in lines
    ]
    say(output.table(headers, rows))
    return 0


def set_state(args: argparse.Namespace, client: Client) -> int:
    worker = client.post(f"/workers/{args.name}/{args.verb}")
    say(f"worker/{args.name} state {worker.get('state')} (phase {worker.get('phase')})")
    return 0


def ensure_ready(args: argparse.Namespace, client: Client) -> int:
    answer = client.call(
        "POST",
        f"/workers/{args.name}/ensure-ready",
        query={"timeout": args.timeout},
        timeout=max(args.timeout, 0) + ENSURE_READY_SLACK,
    )
    if not answer.get("ready"):
        raise CLIError(f"worker/{args.name} is not ready (phase {answer.get('phase')}): {answer.get('message')}")
    say(f"worker/{args.name} ready (phase {answer.get('phase')})")
    return 0


def check_idle(args: argparse.Namespace, client: Client) -> int:
    lines = client.get("/workers/idle-check", {"team": args.team}).get("workers", [])
    if args.output == "json":
        say(output.to_json({"workers": lines}))
        return 0
    now = datetime.now(UTC)
    rows = [
        [
            line["name"],
            line.get("state"),
            line.get("activeTasks"),
            f"{output.age(line['idleSince'], now)} ago" if line.get("idleSince") else "",
            output.duration(line["secondsLeft"]) if line.get("secondsLeft") is not None else "",
        ]
        for line in lines
    ]
    say(output.table(["name", "state", "active", "idle-since", "time-left"], rows))
    return 0


class _Stop(Exception):
    """SIGTERM asks the heartbeat loop to end, as SIGINT (KeyboardInterrupt) does."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop


def report_ready(args: argparse.Namespace, client: Client) -> int:
    client.post(f"/workers/{args.name}/ready")
    say(f"worker/{args.name} reported ready")
    if not args.heartbeat:
        return 0
    if args.interval <= 0:
        raise CLIError(f"--interval must be more than 0 seconds, got {args.interval:g}")
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    attempts = accepted = 0
    wait = 0.0
    try:
        while args.count is None or attempts < args.count:
            if attempts:
                time.sleep(max(args.interval, wait))  # waiting is the loop's purpose; a signal ends it
            attempts += 1
            took, wait = _beat(client, args.state, args.interval)
            accepted += took
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    say(f"worker/{args.name} sent {accepted} heartbeat(s)")
    return 0


def _beat(client: Client, state: str, interval: float) -> tuple[bool, float]:
    """Post one heartbeat: whether the controller took it, and the seconds it asked to wait
    before the next (a 429's ``Retry-After``; 0 when it asked nothing)."""
    try:
        client.post("/heartbeats", {"state": state})
        return True, 0.0
    except TransportError as exc:
        # A controller restart must not kill the agent's keepalive: say so and try at the next beat.
        print(f"warning: heartbeat not sent: {exc.message}", file=sys.stderr, flush=True)
        return False, 0.0
    except APIError as exc:
        if exc.status == 429:
            # Over the agent's rate: the loop goes on, after the wait the controller asked for.
            # The agents' own parser (standard library only), imported here: the CLI's start
            # imports nothing of the controller beyond itself.
            from controller.agent.reference_worker import retry_after

            wait = retry_after(exc.retry_after, interval)
            print(f"warning: heartbeat refused: {exc.message}; next in {wait:g} s", file=sys.stderr, flush=True)
            return False, wait
        if exc.status < 500:
            raise  # refused (bad token, not this worker's): retrying cannot help
        print(f"warning: heartbeat not accepted: {exc.message}", file=sys.stderr, flush=True)
        return False, 0.0


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"
