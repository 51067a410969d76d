"""The CRD front door's watcher: list, then watch, the hiclaw.io objects of the namespace.

One thread per kind. At start (and after a broken watch) it lists the kind's objects,
applies each, and deletes mirrored resources whose object is gone; then it watches:
ADDED and MODIFIED apply the object, DELETED deletes its resource (crd_apply.py). The
status written back (crd_status.py) changes an object's resourceVersion but neither its
generation nor its metadata, so the watch skips the MODIFIED event it causes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from django.db import close_old_connections
from kubernetes import watch
from kubernetes.client import CustomObjectsApi

from controller.services import crd_apply, crd_kube

logger = logging.getLogger(__name__)

# A watch request ends after this long and is made again from where it was: the longest a
# stop waits, and how often the mirror notices the API server went away without a word.
WATCH_SECONDS = 30
# While an object stands refused for a conflict with stored state, watch requests are this
# short and the object is applied again after each: ``kubectl apply -f dir/`` sends a
# DebugWorker and the Team it debugs at once, and the kinds are mirrored in parallel.
RETRY_SECONDS = 5
Runner = Callable[[str, Callable[[threading.Event], None], threading.Event], None]


class KindMirror:
    """Mirrors the objects of one kind in one namespace."""

    def __init__(self, api: CustomObjectsApi, kind: str, namespace: str):
        self.api, self.kind, self.namespace = api, kind, namespace
        self.plural = crd_kube.PLURALS[kind]
        # What each object looked like when last applied, by name: events that change
        # neither spec (generation) nor labels and annotations apply nothing.
        self.applied: dict[str, tuple] = {}
        self.refused: dict[str, dict[str, Any]] = {}  # objects to apply again, by name

    def run(self, stop: threading.Event) -> None:
        """List, sweep, then watch until ``stop`` is set; raise when the watch breaks."""
        resource_version = self.list_and_sweep()
        while not stop.is_set():
            stream = watch.Watch()
            for event in stream.stream(
                self.api.list_namespaced_custom_object,
                crd_kube.GROUP,
                crd_kube.VERSION,
                self.namespace,
                self.plural,
                resource_version=resource_version,
                timeout_seconds=RETRY_SECONDS if self.refused else WATCH_SECONDS,
                allow_watch_bookmarks=True,
            ):
                if event["type"] != "BOOKMARK":
                    self.handle(event["type"], event["raw_object"])
                if stop.is_set():
                    stream.stop()
            resource_version = stream.resource_version or resource_version
            for obj in list(self.refused.values()):
                self.handle("MODIFIED", obj)

    def list_and_sweep(self) -> str:
        # The client types custom objects as ``object``; they are decoded JSON.
        listing = cast(
            dict[str, Any],
            self.api.list_namespaced_custom_object(crd_kube.GROUP, crd_kube.VERSION, self.namespace, self.plural),
        )
        close_old_connections()
        listed = [obj for obj in listing["items"] if not self.seen(obj)]
        actions = crd_apply.mirror_listed(self.api, [self.completed(obj) for obj in listed])
        for obj in listed:
            self.record(obj, actions[obj["metadata"]["name"]])
        present = {obj["metadata"]["name"] for obj in listing["items"]}
        crd_apply.sweep(self.kind, present, self.namespace)
        self.applied = {name: seen for name, seen in self.applied.items() if name in present}
        self.refused = {name: obj for name, obj in self.refused.items() if name in present}
        return listing["metadata"]["resourceVersion"]

    def handle(self, event_type: str, obj: dict[str, Any]) -> None:
        # A long-lived thread: drop a connection the database closed meanwhile.
        close_old_connections()
        if event_type in ("ADDED", "MODIFIED"):
            self.changed(obj)
        elif event_type == "DELETED":
            self.applied.pop(obj["metadata"]["name"], None)
            self.refused.pop(obj["metadata"]["name"], None)
            crd_apply.forget(self.kind, obj["metadata"]["name"], self.namespace)

    def changed(self, obj: dict[str, Any]) -> None:
        if not self.seen(obj):
            self.record(obj, crd_apply.mirror(self.api, self.completed(obj)))

    def seen(self, obj: dict[str, Any]) -> bool:
        """Whether ``obj`` was applied as it is: events that change neither spec (generation)
        nor labels and annotations apply nothing."""
        return self.applied.get(obj["metadata"]["name"]) == _fingerprint(obj)

    def completed(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("kind", self.kind)
        obj.setdefault("apiVersion", f"{crd_kube.GROUP}/{crd_kube.VERSION}")
        return obj

    def record(self, obj: dict[str, Any], action: str) -> None:
        name = obj["metadata"]["name"]
        if action == crd_apply.REFUSED:
            self.refused[name] = obj
        else:
            self.refused.pop(name, None)
            self.applied[name] = _fingerprint(obj)


def _fingerprint(obj: dict[str, Any]) -> tuple:
    metadata = obj["metadata"]
    return (
        metadata.get("uid"),
        metadata.get("generation"),
        repr(sorted((metadata.get("labels") or {}).items())),
        repr(sorted((metadata.get("annotations") or {}).items())),
    )


def watch_crds(stop: threading.Event, run: Runner) -> None:
    """Mirror every kind until ``stop`` is set, each in a thread restarted by ``run`` when it fails."""
    api, namespace = crd_kube.custom_objects(), crd_kube.namespace()
    threads = [
        threading.Thread(
            target=run,
            args=(f"crds/{kind}", KindMirror(api, kind, namespace).run, stop),
            name=f"watch-crds-{kind.lower()}",
            daemon=True,
        )
        for kind in crd_kube.PLURALS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
