"""Heartbeat ingestion against the production-style server: uvicorn (ASGI) + PostgreSQL + Redis.

Starts ``uvicorn hiclaw_site.asgi:application --workers 2`` with REDIS_URL and
DATABASE_URL set, creates agents with tokens, and drives POST /api/v1/heartbeats
with wrk (20 connections, 10 s, loopback). Two scenarios:

- ``ingest`` (default): each request with the next of 200 agents' tokens. Every
  agent may post ``HICLAW_HEARTBEAT_MAX_PER_MINUTE`` a minute (``--limit``; the
  controller's default unless given), so at full speed most requests are
  answered 429: the figures say how many were accepted and refused. To measure
  the ingestion path itself, raise the limit (``--limit 1000000000``): the
  counter is still kept, nothing is refused. Then the buffered reports are
  applied the way ``flush_heartbeats`` does, and that rate is reported too.
- ``flood``: every request with one agent's token, each report with a note of
  its own; the buffer is applied every second meanwhile (as beat does), and
  the flooder's history rows are counted after every flush: they must stay
  within ``HICLAW_HEARTBEAT_HISTORY_MAX``.

``--no-redis`` serves the same scenarios without Redis: the API view (embedded
mode's path, a Django request that writes each report), the peer the fast path
is compared with.

Needs Debian's ``wrk`` (``apt-get install wrk``). Run: ``.venv/bin/python bench/heartbeats.py``
(``--scenario ingest|flood --limit N --connections 20 --seconds 10 --agents 200``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from environment import DEFAULT_DATABASE_URL, ROOT, configure

REDIS_URL = "redis://127.0.0.1:6379/5"
# Keys of the benchmark's own (buffer, rate counts), even on a Redis database another program uses.
PREFIX = "hiclaw-bench-hb-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("ingest", "flood"), default="ingest")
    parser.add_argument("--no-redis", action="store_true", help="the API view writes each report (no fast path)")
    parser.add_argument("--limit", type=int, help="HICLAW_HEARTBEAT_MAX_PER_MINUTE (default: the controller's)")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-hb-") as tmp:
        env = {
            "REDIS_URL": "" if args.no_redis else REDIS_URL,
            "HICLAW_RESOURCE_PREFIX": PREFIX,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "HICLAW_BACKEND": "process",
        }
        if args.limit is not None:
            env["HICLAW_HEARTBEAT_MAX_PER_MINUTE"] = str(args.limit)
        configure(Path(tmp), args.database_url, **env)
        tokens = Path(tmp) / "tokens.txt"
        tokens.write_text("\n".join(create_agents(args.agents)))
        redis = clear_keys()
        port = free_port()
        server = start_server(port, args.server_workers)
        flusher = Flusher(redis) if args.scenario == "flood" and not args.no_redis else None
        try:
            wait_until_up(port, deadline=time.monotonic() + 30)
            if flusher is not None:
                flusher.start()
            output = run_wrk(port, tokens, args)
        finally:
            if flusher is not None:
                flusher.stop()
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if args.scenario == "flood":
            report_flood(output, flusher)
        else:
            report_ingestion(output, None if args.no_redis else redis)
        drop_agents()
        clear_keys()


def run_wrk(port: int, tokens: Path, args) -> str:
    flood = "1" if args.scenario == "flood" else "0"
    return subprocess.run(  # noqa: S603 - wrk from PATH, arguments of our own
        [  # noqa: S607
            "wrk",
            "-t2",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "--latency",
            "-s",
            str(ROOT / "bench" / "heartbeats.lua"),
            f"http://127.0.0.1:{port}",
        ],
        env={**os.environ, "HICLAW_BENCH_TOKENS": str(tokens), "HICLAW_BENCH_FLOOD": flood},
        capture_output=True,
        text=True,
        timeout=args.seconds + 60,
        check=True,
    ).stdout


def create_agents(count: int) -> list[str]:
    from controller.models import AgentToken, Worker

    drop_agents()
    Worker.objects.bulk_create(Worker(name=f"bench-hb-{i}", spec={"model": "q"}, model="q") for i in range(count))
    return [AgentToken.mint("worker", f"bench-hb-{i}")[1] for i in range(count)]


def drop_agents() -> None:
    from controller.models import AgentToken, Worker

    Worker.objects.filter(name__startswith="bench-hb-").delete()
    AgentToken.objects.filter(subject__startswith="bench-hb-").delete()


def clear_keys():
    """No buffered report and no rate count left over from an earlier run (only the benchmark's keys)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{PREFIX}*"):
        client.delete(key)
    return client


class Flusher(threading.Thread):
    """What beat's ``flush_heartbeats`` does, every second, counting the flooder's history after each."""

    def __init__(self, redis):
        super().__init__(daemon=True)
        self.redis, self.applied, self.largest = redis, 0, 0
        self._stop_flag = threading.Event()

    def run(self) -> None:
        from django.db import close_old_connections

        while not self._stop_flag.wait(1.0):
            self.flush()
        close_old_connections()

    def flush(self) -> None:
        from controller.models import Heartbeat
        from controller.services.heartbeats import FLUSH_BATCH, flush_buffer

        while (batch := flush_buffer(self.redis, FLUSH_BATCH)) > 0:
            self.applied += batch
        self.largest = max(self.largest, Heartbeat.objects.filter(worker__name="bench-hb-0").count())

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(timeout=60)
        self.flush()  # what arrived after the last tick


def start_server(port: int, workers: int) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "uvicorn"),
        "hiclaw_site.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), start_new_session=True)  # noqa: S603


def wait_until_up(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not start")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk_figures(wrk_output: str) -> tuple[int, float, int, dict[str, str]]:
    """(requests, seconds, non-2xx answers, latency percentiles) of wrk's summary."""
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", wrk_output)
    seconds = float(done[2]) / (1000 if done[3] == "ms" else 1)
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk_output)
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", wrk_output, re.MULTILINE))
    return int(done[1]), seconds, int(refused[1]) if refused else 0, latency


def latency_words(latency: dict[str, str]) -> str:
    return ", ".join(f"p{p} {latency.get(p, '?')}" for p in ("50", "90", "99"))


def socket_errors(wrk_output: str) -> str:
    """wrk's count of failed connections, reads, writes and timeouts, when there were any."""
    errors = re.search(r"Socket errors: (.*)", wrk_output)
    return f" (socket errors: {errors[1]})" if errors else ""


def limit_words() -> str:
    from django.conf import settings

    limit = getattr(settings, "HICLAW_HEARTBEAT_MAX_PER_MINUTE", None)
    return "no rate limit in this version" if limit is None else f"limit {limit:,} a minute per agent"


def report_ingestion(wrk_output: str, redis) -> None:
    from controller.models import Heartbeat
    from controller.services.heartbeats import FLUSH_BATCH, buffer_key, flush_buffer

    requests, seconds, refused, latency = wrk_figures(wrk_output)
    # With Redis, the buffer holds every accepted report, nothing else.
    buffered = redis.llen(buffer_key()) if redis is not None else requests - refused
    print(f"requests: {requests / seconds:,.0f}/s ({limit_words()})")
    print(f"  accepted (202): {buffered / seconds:,.0f}/s ({buffered:,}); refused: {refused / seconds:,.0f}/s")
    print(f"  latency {latency_words(latency)}{socket_errors(wrk_output)}")
    if redis is None:
        rows = Heartbeat.objects.filter(worker__name__startswith="bench-hb-").count()
        print(f"  written by the API view as they came; history rows: {rows:,}")
        return
    started, applied = time.perf_counter(), 0
    while (batch := flush_buffer(redis, FLUSH_BATCH)) > 0:
        applied += batch
    elapsed = time.perf_counter() - started
    rows = Heartbeat.objects.filter(worker__name__startswith="bench-hb-").count()
    speed = applied / elapsed if elapsed else 0
    print(f"applied to PostgreSQL: {applied:,} in {elapsed:.2f} s = {speed:,.0f} heartbeats/s (batch {FLUSH_BATCH:,})")
    print(f"  history rows written: {rows:,}")


def report_flood(wrk_output: str, flusher: Flusher | None) -> None:
    from django.conf import settings

    from controller.models import Heartbeat

    requests, seconds, refused, latency = wrk_figures(wrk_output)
    share = refused / requests if requests else 0
    rows = Heartbeat.objects.filter(worker__name="bench-hb-0").count()
    applied = flusher.applied if flusher is not None else requests - refused
    largest = flusher.largest if flusher is not None else rows  # the API view: counted at the end only
    print(f"flood from one token: {requests / seconds:,.0f} requests/s ({limit_words()})")
    print(f"  refused (non-2xx): {share:.1%}; accepted and applied: {applied:,} in {seconds:.1f} s")
    print(f"  latency {latency_words(latency)}{socket_errors(wrk_output)}")
    cap = settings.HICLAW_HEARTBEAT_HISTORY_MAX
    print(f"  the flooder's history: at most {largest:,} rows seen after any flush, {rows:,} at the end")
    print(f"  (cap {cap:,})")


if __name__ == "__main__":
    main()
