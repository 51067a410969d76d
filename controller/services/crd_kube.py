"""Reaching the hiclaw.io objects for the CRD front door: the same cluster and namespace as the
Kubernetes backend's (controller/backends/kube_api.py): HICLAW_KUBECONFIG when set, else the pod's
own ServiceAccount in a cluster, else $KUBECONFIG or ~/.kube/config; the namespace is
HICLAW_NAMESPACE, else the controller pod's namespace, else "default".
"""

from __future__ import annotations

import functools

from django.conf import settings
from kubernetes import client

from controller.backends.kube_api import default_namespace, make_api_client

GROUP, VERSION = "hiclaw.io", "v1beta1"
# The plural resource name of each kind, as the CRDs (deploy/helm/hiclaw-controller/crds/) define them.
PLURALS = {
    "Worker": "workers",
    "Team": "teams",
    "Human": "humans",
    "Manager": "managers",
    "DebugWorker": "debugworkers",
}


def namespace() -> str:
    """The namespace whose hiclaw.io objects the controller mirrors."""
    return default_namespace()


def custom_objects() -> client.CustomObjectsApi:
    """A client of the hiclaw.io objects, for the cluster the settings name."""
    return client.CustomObjectsApi(_api_client(settings.HICLAW_KUBECONFIG))


@functools.lru_cache(maxsize=4)
def _api_client(kubeconfig: str) -> client.ApiClient:
    # Cached per kubeconfig: loading credentials reads files and, in a cluster, the token; the
    # client refreshes a rotating ServiceAccount token itself.
    return make_api_client(kubeconfig or None)
