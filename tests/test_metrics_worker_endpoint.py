"""A Celery worker's own metrics port (``HICLAW_METRICS_PORT``), for pods that share no metrics
directory with the web: it serves its pool's counted families, never the database gauges, and
only to the token, or with no token only on loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller import metrics
from controller.metrics_server import EVERYWHERE, Address, MetricsPortError, MetricsServer, configured
from tests.conftest import ROOT
from tests.helpers import free_port, wait_until
from tests.test_metrics import TOKEN, parse, value
from tests.test_metrics_multiprocess import celery_env, celery_worker, enqueue_reconciles, redis  # noqa: F401

DATABASE_GAUGES = ("hiclaw_workers", "hiclaw_unhealthy_workers", "hiclaw_rollout_")
LISTEN = "0A"  # the state of a listening socket in /proc/net/tcp


def get(port: int, token: str | None = None, host: str = "127.0.0.1") -> tuple[int, str]:
    request = urllib.request.Request(f"http://{host}:{port}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def database_gauges(text: str) -> list[str]:
    return [family.name for family in text_string_to_metric_families(text) if family.name.startswith(DATABASE_GAUGES)]


def listening(port: int) -> dict[str, str]:
    """The IPv4 addresses a socket listens on at ``port``, as the kernel reports them, each
    with the inode of its socket."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        if fields[3] == LISTEN and int(port_hex, 16) == port:
            found[socket.inet_ntoa(bytes.fromhex(address)[::-1])] = fields[9]
    return found


def holders(inode: str) -> set[int]:
    """The processes (of this user) that hold the socket ``inode`` open."""
    held = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in fd_dir.iterdir()):
                held.add(int(fd_dir.parent.name))
        except OSError:  # another user's process, or one that just exited
            continue
    return held


def outward_address() -> str | None:
    """This machine's address on the network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent, the route picks the address
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.mark.slow
def test_a_celery_worker_serves_its_pools_reconciles_to_the_token_only(tmp_path, redis):  # noqa: F811
    """A real ``celery worker`` (prefork, two children) with a metrics directory of its own, as in
    a pod: what its children counted is added up on its port; the database gauges stay away."""
    port = free_port()
    folder = tmp_path / "prometheus"
    env = celery_env(
        tmp_path,
        HICLAW_METRICS_PORT=str(port),
        HICLAW_METRICS_TOKEN=TOKEN,
        **{metrics.MULTIPROC_ENV: str(folder)},
    )
    log = tmp_path / "worker.log"
    with celery_worker(env, log) as worker:

        def alive() -> None:
            assert worker.poll() is None, log.read_text()[-3000:]

        def answers() -> bool:
            try:
                return get(port)[0] == 401
            except OSError:
                return False

        wait_until(answers, 60, "the worker's metrics port", check=alive)
        enqueue_reconciles(env, 3)

        def counted() -> float:
            status, text = get(port, TOKEN)
            assert status == 200, text
            return value(parse(text), "hiclaw_reconcile_total", kind="Worker", result="ok")

        wait_until(lambda: counted() == 3, 60, "three reconciles counted on the port", check=alive)
        status, text = get(port, TOKEN)
        samples = parse(text)
        assert value(samples, "hiclaw_reconcile_queue_lag_seconds_count", kind="Worker") == 3
        assert value(samples, "hiclaw_reconcile_duration_seconds_count", kind="Worker") == 3
        assert "hiclaw_reconciles_in_progress" in text
        assert database_gauges(text) == []  # the web's /metrics serves them, once for the fleet

        for wrong in (None, "not-the-token", TOKEN + "x"):
            status, text = get(port, wrong)
            assert status == 401
            assert "hiclaw_" not in text  # not even which families exist
        # With a token it listens on every interface: the scrape comes from another pod.
        (address, inode), *others = listening(port).items()
        assert (address, others) == (EVERYWHERE, [])
        # Only the main process holds it: the pool's children closed the copies they inherited.
        assert holders(inode) == {worker.pid}
    # The port closes with the worker.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.fixture
def served(settings) -> Iterator[list[MetricsServer]]:
    started: list[MetricsServer] = []
    yield started
    for server in started:
        server.stop()


def test_with_no_token_the_port_listens_on_loopback_only_and_needs_no_header(settings, served):
    settings.HICLAW_METRICS_TOKEN = ""
    settings.HICLAW_METRICS_PORT = free_port()
    settings.HICLAW_METRICS_BIND = ""
    address = configured()
    assert address is not None
    served.append(MetricsServer(address, settings.HICLAW_METRICS_TOKEN).start())
    metrics.heartbeat_received("manager")

    assert set(listening(address.port)) == {"127.0.0.1"}
    outward = outward_address()
    if outward is not None:
        with pytest.raises(OSError):
            socket.create_connection((outward, address.port), timeout=5).close()
    status, text = get(address.port)
    assert status == 200
    assert value(parse(text), "hiclaw_heartbeats_received_total", kind="manager") >= 1
    assert database_gauges(text) == []


def test_a_token_opens_every_interface_by_default_and_the_bind_setting_narrows_it(settings):
    settings.HICLAW_METRICS_PORT = 9464
    settings.HICLAW_METRICS_TOKEN = TOKEN
    settings.HICLAW_METRICS_BIND = ""
    assert configured() == Address("0.0.0.0", 9464)  # noqa: S104
    settings.HICLAW_METRICS_BIND = "10.1.2.3"
    assert configured().host == "10.1.2.3"
    settings.HICLAW_METRICS_PORT = 0
    assert configured() is None  # off unless asked for


@pytest.mark.parametrize(
    ("port", "bind", "token", "named"),
    [
        (9464, "0.0.0.0", "", "HICLAW_METRICS_BIND"),  # noqa: S104
        (9464, "10.1.2.3", "", "HICLAW_METRICS_BIND"),
        (9464, "localhost:80", TOKEN, "HICLAW_METRICS_BIND"),
        (70000, "", TOKEN, "HICLAW_METRICS_PORT"),
        (-1, "", TOKEN, "HICLAW_METRICS_PORT"),
    ],
)
def test_a_setting_that_cannot_be_used_is_refused_by_name(settings, port, bind, token, named):
    settings.HICLAW_METRICS_PORT, settings.HICLAW_METRICS_BIND, settings.HICLAW_METRICS_TOKEN = port, bind, token
    with pytest.raises(MetricsPortError, match=named):
        configured()


@pytest.mark.slow
def test_a_worker_told_to_listen_everywhere_without_a_token_does_not_start(tmp_path):
    env = celery_env(tmp_path, HICLAW_METRICS_PORT=str(free_port()), HICLAW_METRICS_BIND="0.0.0.0")  # noqa: S104
    started = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "hiclaw_site", "worker", "-P", "solo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "HICLAW_METRICS_BIND=0.0.0.0 reaches other machines" in started.stderr + started.stdout
