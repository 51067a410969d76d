"""Following the Docker Engine's event stream for this controller's containers.

One stream per watching process, filtered by the engine to our controller label and to
the events that change an instance's state (start, die, oom, destroy). Each connection
first subscribes, then reports every instance of ``list()``: whatever happened while we
were not connected (the engine restarted, the socket was cut) is caught up by the
reconciles those reports queue, and nothing that happens during the listing is lost,
as the subscription already holds it. When the stream ends without ``stop`` being set,
``BackendUnavailable`` tells the caller (controller/services/watchers.py) to connect
again after a backoff.

Stopping: reading the stream blocks until the engine sends something, which may be
never. A small thread waits for ``stop`` and closes the response's socket, which ends
the read at once; short ``until`` windows would instead leave a gap between two requests
in which events are lost, or need the stream resumed by time, which an engine restart
upsets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from controller.backends.base import LABEL_CONTROLLER, BackendUnavailable, InstanceInfo, InstanceState, WorkerBackend

logger = logging.getLogger(__name__)

EVENTS = ("start", "die", "oom", "destroy")
# Attributes of an event's Actor that are the engine's, not the container's labels.
ENGINE_ATTRIBUTES = frozenset({"name", "image", "exitCode", "signal", "execDuration"})


def subscribe(api, controller_id: str):
    """The engine's event stream of this controller's containers (``api``: a docker.APIClient)."""
    filters = {"type": "container", "label": f"{LABEL_CONTROLLER}={controller_id}", "event": list(EVENTS)}
    return api.events(decode=True, filters=filters)


def follow(
    backend: WorkerBackend, api, stream, on_change: Callable[[InstanceInfo], None], stop: threading.Event
) -> None:
    """Report every instance, then each start, exit, OOM kill or removal the ``stream`` of
    ``subscribe`` brings, until it ends; closes ``stream`` and ``api``."""
    done = threading.Event()
    threading.Thread(target=_close_on_stop, args=(stream, stop, done), name="docker-watch-stop", daemon=True).start()
    try:
        for info in backend.list():
            on_change(info)
        for event in stream:  # ends when the socket is closed or the engine goes away
            changed = instance_of(backend, event)
            if changed is not None:
                on_change(changed)
    finally:
        done.set()
        stream.close()
        api.close()
    if not stop.is_set():
        raise BackendUnavailable("the Docker Engine's event stream ended")


def _close_on_stop(stream, stop: threading.Event, done: threading.Event) -> None:
    while not done.is_set():
        if stop.wait(0.1):
            try:
                stream.close()
            except Exception:  # already closed by the reader: nothing left to end
                logger.debug("docker: event stream already closed")
            return


def instance_of(backend: WorkerBackend, event: dict) -> InstanceInfo | None:
    """The instance an engine event is about, with the state that event leaves it in."""
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    labels = {key: value for key, value in attributes.items() if key not in ENGINE_ATTRIBUTES}
    name = attributes.get("name", "")
    if not name or not backend.owns(labels):
        return None
    action = event.get("Action") or event.get("status") or ""
    if action == "start":
        state = InstanceState.RUNNING
    elif action == "destroy":
        state = InstanceState.MISSING
    elif action == "die" and attributes.get("exitCode") == "0":
        state = InstanceState.STOPPED
    else:
        state = InstanceState.FAILED
    return backend.info(name, labels, state)
