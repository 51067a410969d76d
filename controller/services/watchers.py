"""Long-running watches that turn outside changes into reconciles.

Each watcher is a function that blocks until ``stop`` is set, calling back as
changes arrive; when it raises (a broken stream, the API server restarting) it
is started again after a backoff, so a watcher never dies for good while the
process runs. The periodic resync stays the safety net for anything a broken
stream missed.

- ``instances``: the backend's own event stream for this controller's
  instances (a pod, container or process that died, was deleted or became ready)
  queues a reconcile of the resource it belongs to, which records a crash and
  restarts the instance (controller/reconcilers/crashes.py). Each (re)connection
  first reports every instance, so what happened while it was down is caught up.
- ``crds`` (only with ``HICLAW_WATCH_CRDS``): the CRD front door, mirroring the hiclaw.io
  objects of the namespace into the database (controller/services/crd_mirror.py).

They run in one process per deployment: ``manage.py hiclaw_watch`` in
production (the chart's single-replica watch Deployment), in process under
``manage.py hiclaw_run`` in embedded mode.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django import db
from django.conf import settings

from controller import reconcile_queue
from controller.backends import BackendUnavailable, InstanceInfo
from controller.connections import default_connections

logger = logging.getLogger(__name__)

Watcher = Callable[[threading.Event], None]

# The backend's instance label for each resource kind that runs one.
RESOURCE_KINDS = {"worker": "Worker", "manager": "Manager", "debugworker": "DebugWorker"}
RESTART_BACKOFF_SECONDS = (0.5, 1, 2, 5, 10, 30)


def instance_changed(info: InstanceInfo) -> None:
    """Queue a reconcile of the resource an instance belongs to."""
    kind = RESOURCE_KINDS.get(info.kind)
    if kind and info.resource:
        reconcile_queue.enqueue(kind, info.resource)


def watchers() -> dict[str, Watcher]:
    """The watchers this process should run, by name, as the settings ask."""
    backend = default_connections().backend
    found: dict[str, Watcher] = {"instances": lambda stop: backend.watch(instance_changed, stop)}
    if settings.HICLAW_WATCH_CRDS:
        # Imported here: the kubernetes client is loaded only by a controller that uses it.
        from controller.services import crd_mirror

        found["crds"] = lambda stop: crd_mirror.watch_crds(stop, run_until_stopped)
    return found


def run_until_stopped(name: str, watcher: Watcher, stop: threading.Event) -> None:
    """Run ``watcher`` again and again until ``stop`` is set, backing off after each failure.

    The thread's database connection is given back after a failure (it may be the broken
    part) and when the thread ends: a connection of a finished thread is otherwise never
    returned to the pool, and a few restarts would leave the web and workers none.
    """
    failures = 0
    try:
        while not stop.is_set():
            try:
                watcher(stop)
                failures = 0
                if not stop.is_set():
                    # Returned without being stopped: a backend with no event stream.
                    return
            except Exception as error:
                failures += 1
                delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS)) - 1]
                # An engine out of reach is expected now and then: one line, no traceback.
                log = logger.warning if isinstance(error, BackendUnavailable) else logger.exception
                log("watcher %s failed (%d in a row): %s; starting it again in %s s", name, failures, error, delay)
                db.connection.close()
                stop.wait(delay)
    finally:
        db.connection.close()


def start(stop: threading.Event) -> list[threading.Thread]:
    """Start every watcher in a daemon thread of its own."""
    threads = []
    for name, watcher in watchers().items():
        thread = threading.Thread(
            target=run_until_stopped, args=(name, watcher, stop), name=f"watch-{name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads
