"""``hiclaw debug export|report|job|files|get``: a DebugWorker's exports and reports.

An export or a report runs on the controller; the command prints the job's id
and, with ``--wait``, follows the job until it is done and prints the files it
wrote (read them with ``hiclaw debug get``). ``hiclaw debug create|list|delete``
live with the other system commands (``system``).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from controller.cli import output
from controller.cli.client import Client, CLIError
from controller.cli.commands import say

POLL_SECONDS = 1.0
FINISHED = ("Done", "Failed")


def register(actions: argparse._SubParsersAction) -> None:
    """Add the job and file actions to ``hiclaw debug``."""
    for kind, text in (
        ("export", "export the messages of every room the DebugWorker's credential has joined"),
        ("report", "write a markdown debug report about its target workers"),
    ):
        parser = actions.add_parser(kind, help=text, description=f"{text[0].upper()}{text[1:]}.")
        parser.add_argument("name", help="the DebugWorker")
        parser.add_argument("--hours", type=int, required=True, help="how far back to look")
        if kind == "report":
            parser.add_argument("--worker", help="only this target worker (default: every one)")
        parser.add_argument("--wait", action="store_true", help="follow the job until it is done; print its files")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits at most (default 600)")
        parser.set_defaults(handler=start_job, kind=kind)

    job = actions.add_parser("job", help="an export's or report's state", description="One job's state and files.")
    job.add_argument("name", help="the DebugWorker")
    job.add_argument("id", help="the job id printed by export or report")
    job.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    job.set_defaults(handler=show_job)

    files = actions.add_parser(
        "files", help="list exports and reports", description="The exports and reports a DebugWorker wrote."
    )
    files.add_argument("name", help="the DebugWorker")
    files.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    files.set_defaults(handler=list_files)

    get = actions.add_parser("get", help="print one export or report", description="Print one export or report.")
    get.add_argument("name", help="the DebugWorker")
    get.add_argument("path", help="as files lists it, e.g. output/debug-report-20260101T120000Z.md")
    get.set_defaults(handler=get_file)


def start_job(args: argparse.Namespace, client: Client) -> int:
    query = {"hours": args.hours, "worker": getattr(args, "worker", None)}
    job = client.call("POST", f"/debugworkers/{quote(args.name, safe='')}/{args.kind}", query=query)
    say(f"{args.kind} {job['id']} {job['state']}")
    if not args.wait:
        return 0
    job = _follow(client, args.name, job["id"], args.timeout)
    return _finished(job)


def _follow(client: Client, name: str, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/debugworkers/{quote(name, safe='')}/jobs/{quote(job_id, safe='')}")
        if job.get("state") in FINISHED:
            return job
        if time.monotonic() >= deadline:
            raise CLIError(f"job {job_id} is still {job.get('state')} ({job.get('progress')}%) after {timeout:g} s")
        time.sleep(POLL_SECONDS)


def _finished(job: dict[str, Any]) -> int:
    if job.get("state") == "Failed":
        raise CLIError(f"job {job.get('id')} failed: {job.get('message')}")
    for path in job.get("outputs") or []:
        say(path)
    return 0


def show_job(args: argparse.Namespace, client: Client) -> int:
    job = client.get(f"/debugworkers/{quote(args.name, safe='')}/jobs/{quote(args.id, safe='')}")
    if args.output != "table":
        say(output.to_json(job) if args.output == "json" else output.to_yaml([job]))
        return 0
    rows = [[job.get("id"), job.get("kind"), job.get("state"), f"{job.get('progress')}%", job.get("message")]]
    say(output.table(["id", "kind", "state", "progress", "message"], rows))
    for path in job.get("outputs") or []:
        say(path)
    return 0


def list_files(args: argparse.Namespace, client: Client) -> int:
    files = client.get(f"/debugworkers/{quote(args.name, safe='')}/files").get("files", [])
    if args.output != "table":
        say(output.to_json({"files": files}) if args.output == "json" else output.to_yaml([{"files": files}]))
        return 0
    now = datetime.now(UTC)
    rows = [[entry.get("path"), entry.get("size"), output.age(entry.get("modified"), now)] for entry in files]
    say(output.table(["path", "size", "age"], rows))
    return 0


def get_file(args: argparse.Namespace, client: Client) -> int:
    content = client.download(f"/debugworkers/{quote(args.name, safe='')}/files/{quote(args.path)}")
    sys.stdout.buffer.write(content)
    sys.stdout.flush()
    return 0
