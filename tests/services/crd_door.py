"""The CRD front door's test fixtures: the chart's CRDs installed in the session's API server,
and the mirror of one namespace run as production runs it (``watchers()["crds"]`` in a thread
until a stop event), with reconciles in a worker thread of their own (tests/reconcile_worker.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.services import crd_kube, crd_mirror, watchers
from tests import reconcile_worker
from tests.helpers import wait_until
from tests.services.kube import CHART

CRDS = CHART / "crds"
GROUP, VERSION = "hiclaw.io", "v1beta1"
PLURALS = crd_kube.PLURALS


@pytest.fixture(scope="session")
def crds(kube):
    """The chart's CRDs installed once (they are cluster-wide) and Established."""
    extensions = client.ApiextensionsV1Api(kube.api_client())
    names = []
    for path in sorted(CRDS.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        names.append(body["metadata"]["name"])
        try:
            extensions.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:  # AlreadyExists: another module of this session made it
                raise

    def established() -> bool:
        for name in names:
            conditions = extensions.read_custom_resource_definition(name).status.conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conditions):
                return False
        return True

    wait_until(established, 30, "the hiclaw.io CRDs to be Established")
    return names


class FrontDoor:
    """The mirror of one test's namespace, and that namespace's objects as an admin sees them."""

    def __init__(self, kube, namespace: str):
        self.namespace = namespace
        self.objects = client.CustomObjectsApi(kube.api_client())
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        watcher = watchers.watchers()["crds"]
        self.thread = threading.Thread(
            target=watchers.run_until_stopped, args=("crds", watcher, self.stop), daemon=True
        )
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=crd_mirror.WATCH_SECONDS + 20)
            assert not self.thread.is_alive(), "the mirror did not stop"

    def create(self, body: dict) -> dict:
        return self.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[body["kind"]], body)

    def get(self, kind: str, name: str) -> dict:
        return self.objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind], name)

    def patch_spec(self, kind: str, name: str, spec: dict) -> dict:
        return self.objects.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURALS[kind], name, {"spec": spec}
        )

    def delete(self, kind: str, name: str) -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind], name)

    def status_when(self, kind: str, name: str, check, what: str, timeout: float = 60) -> dict:
        """Wait until the object's status passes ``check``; return the object."""
        found: dict = {}

        def ready():
            found["obj"] = self.get(kind, name)
            return check(found["obj"].get("status") or {}, found["obj"])

        wait_until(
            ready, timeout, what, interval=0.2, details=lambda: f"last status: {found.get('obj', {}).get('status')}"
        )
        return found["obj"]


def front_door_for(kube, namespace: str, settings, monkeypatch, kubeconfig: Path) -> FrontDoor:
    settings.HICLAW_WATCH_CRDS = True
    settings.HICLAW_NAMESPACE = namespace
    settings.HICLAW_KUBECONFIG = str(kubeconfig)
    # A stop waits for the watch request to end; a refused object is tried again after one.
    monkeypatch.setattr(crd_mirror, "WATCH_SECONDS", 2)
    monkeypatch.setattr(crd_mirror, "RETRY_SECONDS", 2)
    return FrontDoor(kube, namespace)


@pytest.fixture
def reconcile_thread(monkeypatch, eager_celery):
    """Reconciles run in a worker thread, status writes inline (tests/reconcile_worker.py)."""
    worker = reconcile_worker.start(monkeypatch)
    yield worker
    worker.stop.set()
    worker.thread.join(timeout=30)
