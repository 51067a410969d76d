"""Kubernetes all the way: a Worker object applied with the client becomes a pod.

The path a user of the original controller takes: the chart's CRDs installed, the controller
holding only the chart ServiceAccount's token, ``HICLAW_BACKEND=kubernetes`` and
``HICLAW_WATCH_CRDS=true``. The object is mirrored into the database, reconciled into a pod
that kwok runs, and its status subresource comes back Running; deleting the object removes
the Worker and its pod and Secret.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from controller.backends.base import LABEL_NAME
from controller.connections import default_connections
from controller.models import Worker
from tests.helpers import manifest, wait_until
from tests.services.crd_door import front_door_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_object_becomes_a_running_pod_and_its_status_says_so(
    kube, kube_namespace, crds, settings, monkeypatch, tmp_path, reconcile_thread
):
    settings.HICLAW_BACKEND = "kubernetes"
    settings.HICLAW_POD_TEMPLATE = ""
    kubeconfig = kube.chart_kubeconfig(kube_namespace, tmp_path / "kubeconfig")
    door = front_door_for(kube, kube_namespace, settings, monkeypatch, kubeconfig)
    default_connections.cache_clear()
    core = client.CoreV1Api(kube.api_client())

    def pods() -> list[client.V1Pod]:
        return core.list_namespaced_pod(kube_namespace, label_selector=f"{LABEL_NAME}=kube-ada").items

    door.create(manifest("Worker", "kube-ada", {"model": "qwen3.5-plus", "labels": {"tier": "gold"}}))
    door.start()
    try:
        obj = door.status_when(
            "Worker", "kube-ada", lambda status, obj: status.get("phase") == "Running", "the object's status Running"
        )
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        (pod,) = pods()
        assert pod.status.phase == "Running" and pod.status.pod_ip
        assert pod.metadata.labels["tier"] == "gold"
        assert Worker.objects.get(name="kube-ada").phase == "Running"

        door.delete("Worker", "kube-ada")
        wait_until(lambda: not Worker.objects.filter(name="kube-ada").exists(), 60, "the Worker to be deleted")
        wait_until(lambda: not pods(), 30, "its pod to be gone")
        assert not core.list_namespaced_secret(kube_namespace, label_selector=f"{LABEL_NAME}=kube-ada").items
    finally:
        door.halt()
