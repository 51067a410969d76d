"""Benchmark: the workspace browser's watcher (controller/services/workspace_watch.py).

Two figures, each on filesystem storage and on S3 (a moto server this script starts
on loopback, as the S3 tests do):

(a) latency: the real ASGI app (Django + Channels, in-memory channel layer) served by
    uvicorn in a thread of this process, ``--viewers`` WebSockets open on one
    DebugWorker's ``/ws/debug/<name>/``; ``--writes`` files are written into one of its
    mounted workspaces at random moments, and the time from the end of each write to
    each viewer's ``created`` frame is measured (p50, p95, max over writes x viewers).
(b) cost of one pass: ``--debugworkers`` DebugWorkers x ``--targets`` mounted targets x
    ``--files`` files each; the time of one watcher pass over all of them (their listing
    and the etag diff), the work the watchers repeat every ``HICLAW_DEBUG_WATCH_MS``.

Rows and users are created in a throwaway PostgreSQL database and deleted afterwards;
storage lives in a temp dir and a throwaway bucket. Run from the repository root::

    .venv/bin/python bench/debug_watch.py --database-url postgres://hiclaw:hiclaw@127.0.0.1:5432/hiclaw_bench
    .venv/bin/python bench/debug_watch.py --files 200 --writes 50     # a quicker run
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from apply_to_running import percentile
from environment import DEFAULT_DATABASE_URL, ROOT, configure, unwind_on_sigterm

PREFIX = "bench-dw-"
USER = "bench-viewer"
MOTO_SERVER = ROOT / ".venvs" / "moto" / "bin" / "moto_server"
TARGET_P95_SECONDS = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL; created when missing")
    parser.add_argument("--viewers", type=int, default=5)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--debugworkers", type=int, default=10)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--files", type=int, default=1000, help="files per mounted workspace for (b)")
    parser.add_argument("--passes", type=int, default=5, help="timed passes for (b)")
    parser.add_argument("--storage", choices=["file", "s3"], nargs="+", default=["file", "s3"])
    args = parser.parse_args()

    unwind_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-debug-watch-") as data_dir:
        configure(Path(data_dir), args.database_url, HICLAW_BACKEND="process")
        from django.conf import settings

        try:
            cookie = create_rows(args.debugworkers, args.targets)
            for kind in args.storage:
                moto = start_moto(Path(data_dir)) if kind == "s3" else None
                try:
                    if moto is not None:
                        settings.HICLAW_STORAGE_URL = moto[1]
                    print(f"--- {kind} storage ({settings.HICLAW_STORAGE_URL.split('@')[-1]})")
                    latency(cookie, args.viewers, args.writes)
                    pass_cost(args.debugworkers, args.targets, args.files, args.passes)
                finally:
                    if moto is not None:
                        moto[0].terminate()
                        moto[0].wait(10)
        finally:
            delete_rows()


# --- set-up ----------------------------------------------------------------------------------
def create_rows(debugworkers: int, targets: int) -> str:
    """DebugWorkers that mount ``targets`` workspaces each and let ``USER`` in; its session cookie."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from controller.models import DebugWorker
    from controller.services import debug_targets

    delete_rows()
    for n in range(debugworkers):
        names = [f"bench-w{n}-{t}" for t in range(targets)]
        DebugWorker.objects.create(
            name=f"{PREFIX}{n}",
            spec={"targets": names, "accessControl": {"allowedUsers": [USER]}},
            mounted_workspaces=debug_targets.mounted_workspaces(names),
        )
    user = get_user_model().objects.create_user(USER)
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def delete_rows() -> None:
    from django.contrib.auth import get_user_model

    from controller.models import DebugWorker

    DebugWorker.objects.filter(name__startswith=PREFIX).delete()
    get_user_model().objects.filter(username=USER).delete()


def start_moto(data_dir: Path) -> tuple[subprocess.Popen, str]:
    from tests.helpers import free_port, wait_until

    port = free_port()
    log = (data_dir / "moto.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - the moto virtualenv's server, arguments of our own
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    wait_until(lambda: answers(f"http://127.0.0.1:{port}"), 30, "moto_server to answer")
    return proc, f"s3://bench-key:bench-secret@127.0.0.1:{port}/bench-debug-watch?secure=false"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback http
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def fill(prefix: str, files: int) -> None:
    from controller.clients.storage import get_storage

    storage = get_storage()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: storage.put(f"{prefix}dir{i % 10}/file-{i}.txt", b"x" * (100 + i % 900)), range(files)))


# --- (a) latency -------------------------------------------------------------------------------
def latency(cookie: str, viewers: int, writes: int) -> None:
    import uvicorn

    from hiclaw_site.asgi import application
    from tests.helpers import free_port, wait_until

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 15, "uvicorn to start")
    try:
        fill("agents/bench-w0-1/", 100)  # something to list besides the written files
        samples = asyncio.run(measure(port, cookie, viewers, writes))
    finally:
        server.should_exit = True
        thread.join(15)
    samples.sort()
    p50, p95 = percentile(samples, 0.50), percentile(samples, 0.95)
    verdict = "ok" if p95 < TARGET_P95_SECONDS else f"ABOVE the {TARGET_P95_SECONDS} s target"
    print(
        f"(a) write -> frame, {writes} writes x {viewers} viewers: p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {samples[-1] * 1000:.0f} ms ({verdict})"
    )


async def measure(port: int, cookie: str, viewers: int, writes: int) -> list[float]:
    import websockets

    from controller.clients.storage import get_storage
    from controller.services.workspace_watch import interval

    storage = get_storage()
    headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"}
    url = f"ws://127.0.0.1:{port}/ws/debug/{PREFIX}0/"
    sockets = [await websockets.connect(url, additional_headers=headers) for _ in range(viewers)]
    for socket in sockets:
        assert '"snapshot"' in await socket.recv()
    samples: list[float] = []
    try:
        for n in range(writes):
            await asyncio.sleep(random.uniform(0, interval()))  # noqa: S311 - spreads writes over the cycle
            path = f"written/file-{n}.txt"
            await asyncio.to_thread(storage.put, f"agents/bench-w0-0/{path}", b"written")
            written = time.perf_counter()
            arrivals = await asyncio.gather(*(arrival(socket, path) for socket in sockets))
            samples += [at - written for at in arrivals]
    finally:
        for socket in sockets:
            await socket.close()
    return samples


async def arrival(socket, path: str) -> float:
    while True:
        frame = await asyncio.wait_for(socket.recv(), 10)
        if f'"path": "{path}"' in frame and '"created"' in frame:
            return time.perf_counter()


# --- (b) cost of one pass ----------------------------------------------------------------------
def pass_cost(debugworkers: int, targets: int, files: int, passes: int) -> None:
    from controller.services import workspace_watch

    started = time.perf_counter()
    for n in range(debugworkers):
        for t in range(targets):
            fill(f"agents/bench-w{n}-{t}/", files)
    filled = time.perf_counter() - started
    names = [f"{PREFIX}{n}" for n in range(debugworkers)]
    state = {name: workspace_watch._list(name)[1] for name in names}  # warm-up, and the "before"
    timings = []
    for _ in range(passes):
        started = time.perf_counter()
        for name in names:
            listed = workspace_watch._list(name)[1]
            assert not workspace_watch._diff(state[name], listed)
            state[name] = listed
        timings.append(time.perf_counter() - started)
    total = debugworkers * targets * files
    print(
        f"(b) one pass over {debugworkers} DebugWorkers x {targets} targets x {files} files ({total} objects, "
        f"filled in {filled:.0f} s): median {statistics.median(timings):.2f} s, "
        f"{statistics.median(timings) / debugworkers * 1000:.0f} ms per DebugWorker, "
        f"{total / statistics.median(timings):,.0f} objects/s"
    )


if __name__ == "__main__":
    main()
