"""Heartbeat ingestion against the production-style server: uvicorn (ASGI) + PostgreSQL + Redis.

Starts ``uvicorn hiclaw_site.asgi:application --workers 2`` with REDIS_URL and
DATABASE_URL set, creates agents with tokens, and drives POST /api/v1/heartbeats
with wrk (20 connections, 10 s, loopback) rotating over the agents' tokens.
Then it applies the buffered reports the way the ``flush_heartbeats`` task
does and reports that rate too, so both halves of the path are measured.

Needs Debian's ``wrk`` (``apt-get install wrk``). Run: ``.venv/bin/python bench/heartbeats.py``
(``--connections 20 --seconds 10 --agents 200``).
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
import time
import urllib.request
from pathlib import Path

from environment import DEFAULT_DATABASE_URL, ROOT, configure

REDIS_URL = "redis://127.0.0.1:6379/12"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-hb-") as tmp:
        env = {"REDIS_URL": REDIS_URL, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "HICLAW_BACKEND": "process"}
        configure(Path(tmp), args.database_url, **env)
        tokens = Path(tmp) / "tokens.txt"
        tokens.write_text("\n".join(create_agents(args.agents)))
        redis = clear_buffer()
        port = free_port()
        server = start_server(port, args.server_workers)
        try:
            wait_until_up(port, deadline=time.monotonic() + 30)
            output = subprocess.run(  # noqa: S603 - wrk from PATH, arguments of our own
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
                env={**os.environ, "HICLAW_BENCH_TOKENS": str(tokens)},
                capture_output=True,
                text=True,
                timeout=args.seconds + 60,
                check=True,
            ).stdout
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        report(output, redis)
        drop_agents()


def create_agents(count: int) -> list[str]:
    from controller.models import AgentToken, Worker

    drop_agents()
    Worker.objects.bulk_create(Worker(name=f"bench-hb-{i}", spec={"model": "q"}, model="q") for i in range(count))
    return [AgentToken.mint("worker", f"bench-hb-{i}")[1] for i in range(count)]


def drop_agents() -> None:
    from controller.models import AgentToken, Worker

    Worker.objects.filter(name__startswith="bench-hb-").delete()
    AgentToken.objects.filter(subject__startswith="bench-hb-").delete()


def clear_buffer():
    import redis

    from controller.services.heartbeats import buffer_key

    client = redis.Redis.from_url(REDIS_URL)
    client.delete(buffer_key())
    return client


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


def report(wrk_output: str, redis) -> None:
    from controller.services.heartbeats import FLUSH_BATCH, buffer_key, flush_buffer

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk_output)[1])
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", wrk_output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk_output)
    buffered = redis.llen(buffer_key())
    started, applied = time.perf_counter(), 0
    while (batch := flush_buffer(redis, FLUSH_BATCH)) > 0:
        applied += batch
    elapsed = time.perf_counter() - started
    print(f"ingestion: {rate:,.0f} heartbeats/s; latency p50 {latency['50']}, p90 {latency['90']}, p99 {latency['99']}")
    print(f"non-2xx responses: {errors[1] if errors else 0}; buffered in Redis: {buffered:,}")
    speed = applied / elapsed if elapsed else 0
    print(f"applied to PostgreSQL: {applied:,} in {elapsed:.2f} s = {speed:,.0f} heartbeats/s (batch {FLUSH_BATCH:,})")


if __name__ == "__main__":
    main()
