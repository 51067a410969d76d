"""Watching this controller's pods: each ADDED, MODIFIED or DELETED event is handed on as it comes.

A watch asks the API server for changes after a resourceVersion. The server ends each request
after ``timeout_seconds`` (so a set ``stop`` is noticed within that time) and the next one resumes
from the last version seen. A 410 Gone (the version is too old, compacted away) starts over from
a fresh list, and — since changes may have been missed — reports every pod of that list. A broken
connection raises BackendUnavailable; the caller (controller/services/watchers.py) starts the
watch again after a backoff, and the periodic resync covers anything missed meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from controller.backends.kube_api import REQUEST_TIMEOUT, api_errors

logger = logging.getLogger(__name__)

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})
WATCH_SECONDS = 3


class Expired(Exception):
    """The resourceVersion we resume from is gone: list again."""


def watch_pods(
    core,
    namespace: str,
    selector: str,
    on_event: Callable[[str, dict[str, Any]], None],
    on_list: Callable[[], None],
    stop: threading.Event,
    *,
    timeout_seconds: int = WATCH_SECONDS,
) -> None:
    """Call ``on_event(type, pod)`` for every change to the selected pods until ``stop`` is set."""
    version = ""
    while not stop.is_set():
        if not version:
            version = _list_version(core, namespace, selector)
            on_list()
        try:
            version = _watch_once(core, namespace, selector, version, on_event, stop, timeout_seconds)
        except Expired:
            logger.info("kubernetes: pod watch in %s expired at version %s; listing again", namespace, version)
            version = ""


def _list_version(core, namespace: str, selector: str) -> str:
    """The resourceVersion to watch from: that of a list, so the watch misses nothing after it."""
    with api_errors("list", "pods", namespace=namespace):
        answer = core.list_namespaced_pod(
            namespace, label_selector=selector, limit=1, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
        return json.loads(answer.data)["metadata"]["resourceVersion"]


def _watch_once(core, namespace, selector, version, on_event, stop, timeout_seconds) -> str:
    """One watch request, until the server ends it; returns the version to resume from."""
    from kubernetes.watch.watch import iter_resp_lines

    with api_errors("watch", "pods", namespace=namespace):
        response = core.list_namespaced_pod(
            namespace,
            label_selector=selector,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
            _request_timeout=(REQUEST_TIMEOUT[0], timeout_seconds + REQUEST_TIMEOUT[1]),
        )
        try:
            for line in iter_resp_lines(response):
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Expired()
                    raise OSError(f"watch error {obj.get('code')}: {obj.get('message')}")
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if kind in EVENT_TYPES:
                    on_event(kind, obj)
                if stop.is_set():
                    break
        finally:
            response.close()
            response.release_conn()
    return version
