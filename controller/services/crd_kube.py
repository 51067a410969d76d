"""Reaching the Kubernetes API server for the CRD front door: which cluster, which namespace.

The cluster is the one named by ``HICLAW_KUBECONFIG`` when set; otherwise the
pod's own ServiceAccount when running in a cluster; otherwise ``$KUBECONFIG``
or ``~/.kube/config``, as kubectl does. The namespace is ``HICLAW_NAMESPACE``,
else the namespace the controller's pod runs in, else "default".
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from django.conf import settings
from kubernetes import client, config

GROUP, VERSION = "hiclaw.io", "v1beta1"
# The plural resource name of each kind, as the CRDs (deploy/helm/hiclaw-controller/crds/) define them.
PLURALS = {
    "Worker": "workers",
    "Team": "teams",
    "Human": "humans",
    "Manager": "managers",
    "DebugWorker": "debugworkers",
}
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def namespace() -> str:
    """The namespace whose hiclaw.io objects the controller mirrors."""
    if settings.HICLAW_NAMESPACE:
        return settings.HICLAW_NAMESPACE
    try:
        return IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def custom_objects() -> client.CustomObjectsApi:
    """A client of the hiclaw.io objects, for the cluster the settings name."""
    return client.CustomObjectsApi(_api_client(settings.HICLAW_KUBECONFIG))


@functools.lru_cache(maxsize=4)
def _api_client(kubeconfig: str) -> client.ApiClient:
    # Cached per kubeconfig: loading it reads files and, in a cluster, the token; the client
    # refreshes a rotating ServiceAccount token itself.
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)
