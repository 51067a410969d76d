"""The controller's own Prometheus metrics: the families that processes count as they work.

Reconciles (counted by the Celery task that runs them), their queue lag, and the
heartbeats the web process accepts. The gauges read from the database at scrape
time (workers by phase, rollouts) are not here: they are computed by the scraping
process alone (controller/services/fleet_metrics.py), so no other process
multiplies them. docs/metrics.md describes every family.

Several processes (web, Celery workers): prometheus_client decides how it keeps
values when it is first imported. With ``PROMETHEUS_MULTIPROC_DIR`` set, each
process writes its values to files of its own in that directory and ``/metrics``
adds them up (controller/metrics_view.py); without it, values live in the memory
of the one process, as in embedded mode, where Celery runs as threads of the web
process. Label values are few and fixed (kinds of resource, results, kinds of
agent): never a resource's name, so the number of series stays bounded.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# What a scrape without the token is told, by /metrics and by a Celery worker's metrics port alike.
UNAUTHORIZED = "metrics need the header 'Authorization: Bearer <HICLAW_METRICS_TOKEN>'\n"

# The results of a reconcile pass: converged, asked to look again later, or failed
# (a step's error recorded on the resource, or an exception out of the pass).
OK, REQUEUE, ERROR = "ok", "requeue", "error"

# Most passes take well under a second; one that starts an instance or waits on a slow
# service takes seconds; the largest buckets catch passes stuck on time-outs.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# A healthy queue starts a task within milliseconds; minutes mean the workers cannot keep up.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


def multiprocess_dir() -> str:
    """The directory every process writes its values to, or "" for one process only."""
    return os.environ.get(MULTIPROC_ENV, "")


# prometheus_client opens a file there when a process first sets a value: a missing
# directory would fail inside the first reconcile, far from the setting that named it.
# Emptying it is the deploy's job, before any process starts (docs/metrics.md).
if multiprocess_dir():
    os.makedirs(multiprocess_dir(), exist_ok=True)

RECONCILES = Counter("hiclaw_reconcile", "Reconcile passes by kind of resource and result.", ["kind", "result"])
RECONCILE_ERRORS = Counter(
    "hiclaw_reconcile_errors", "Reconcile passes that failed (result=error), by kind of resource.", ["kind"]
)
RECONCILE_DURATION = Histogram(
    "hiclaw_reconcile_duration_seconds",
    "How long a reconcile pass took, by kind of resource.",
    ["kind"],
    buckets=DURATION_BUCKETS,
)
QUEUE_LAG = Histogram(
    "hiclaw_reconcile_queue_lag_seconds",
    "From the moment a queued reconcile (or rollout step) was due to the moment a Celery worker started it.",
    ["kind"],
    buckets=LAG_BUCKETS,
)
# Summed over the processes alive now: a Celery worker that died takes its passes with it.
IN_PROGRESS = Gauge(
    "hiclaw_reconciles_in_progress",
    "Reconcile passes running now, by kind of resource.",
    ["kind"],
    multiprocess_mode="livesum",
)
HEARTBEATS = Counter(
    "hiclaw_heartbeats_received", "Heartbeats accepted from agents, by kind of agent (worker, manager).", ["kind"]
)


@dataclass
class Pass:
    """What the caller of ``reconcile_observed`` says of the pass once it has returned."""

    result: str = OK


@contextmanager
def reconcile_observed(kind: str) -> Iterator[Pass]:
    """Time one reconcile pass of ``kind`` and count it under the result the caller sets
    on the yielded ``Pass``; a pass that raises counts as an error and the exception goes on."""
    observed = Pass()
    started = time.perf_counter()
    with IN_PROGRESS.labels(kind).track_inprogress():
        try:
            yield observed
        except BaseException:
            observed.result = ERROR
            raise
        finally:
            RECONCILE_DURATION.labels(kind).observe(time.perf_counter() - started)
            RECONCILES.labels(kind, observed.result).inc()
            if observed.result == ERROR:
                RECONCILE_ERRORS.labels(kind).inc()


def observe_queue_lag(kind: str, due_at: object) -> None:
    """Record how late a task of ``kind`` started. ``due_at`` is the Unix time it was due
    (queued, plus any countdown), from the message; a message queued by older code carries
    none and is not observed. Clocks of two machines may disagree slightly: never below 0."""
    if not isinstance(due_at, int | float) or isinstance(due_at, bool):
        return
    QUEUE_LAG.labels(kind).observe(max(time.time() - due_at, 0.0))


def heartbeat_received(kind: str) -> None:
    HEARTBEATS.labels(kind).inc()


def process_exited(pid: int) -> None:
    """Drop a process's live gauges (``livesum``) from the sums once it has exited, so a
    Celery pool child that ended mid-pass does not count as a pass in progress for ever."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def bearer_matches(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header's value is ``Bearer <token>``. Every endpoint that
    serves metrics (the web's /metrics, a Celery worker's metrics port) asks this one function."""
    keyword, _, given = authorization.partition(" ")
    # compare_digest on bytes: its time does not depend on where the two first differ.
    return keyword == "Bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class _ThisProcess(Collector):
    """The families this process keeps in memory (one process: embedded mode)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def counted_families() -> CollectorRegistry:
    """A registry of the counted families only: with ``PROMETHEUS_MULTIPROC_DIR`` set, those
    of every process writing to that directory, added up at each collect; without it, this
    process's own. The database gauges are not here: the web's /metrics adds them."""
    registry = CollectorRegistry()
    folder = multiprocess_dir()
    if folder:
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_ThisProcess())
    return registry
