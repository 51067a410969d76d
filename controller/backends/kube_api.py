"""Reaching the Kubernetes API: which credentials and namespace to use, and what its errors mean
for a reconciler (retry later, or fail with a message that says what to fix).

The ``kubernetes`` client is imported only here and in the modules of the Kubernetes backend,
which ``controller.backends.get_backend`` imports only when that backend is chosen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from controller.backends.base import BackendError, BackendUnavailable, InstanceConflict, InstanceNotFound

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# Seconds to connect, then to read an answer; a watch waits longer (see kube_watch).
REQUEST_TIMEOUT = (5, 30)


def in_cluster() -> bool:
    """Running in a pod: the kubelet sets this for every container."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def default_namespace() -> str:
    """HICLAW_NAMESPACE, else the namespace of the controller's own pod, else "default"."""
    if settings.HICLAW_NAMESPACE:
        return settings.HICLAW_NAMESPACE
    try:
        return IN_CLUSTER_NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"


def kubeconfig_path() -> str:
    """HICLAW_KUBECONFIG, else $KUBECONFIG (its first file), else ~/.kube/config."""
    if settings.HICLAW_KUBECONFIG:
        return settings.HICLAW_KUBECONFIG
    from_env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return from_env or str(Path.home() / ".kube" / "config")


def make_api_client(kubeconfig: str | None = None):
    """An ApiClient for the cluster the settings name: a kubeconfig given here or by
    HICLAW_KUBECONFIG (an operator may point a controller at another cluster), else the
    in-cluster credentials when running in a pod, else $KUBECONFIG or ~/.kube/config."""
    from kubernetes import client, config

    configuration = client.Configuration()
    explicit = kubeconfig or settings.HICLAW_KUBECONFIG
    try:
        if in_cluster() and not explicit:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=explicit or kubeconfig_path(), client_configuration=configuration)
    except (config.ConfigException, OSError, ValueError) as error:
        raise BackendError(
            f"cannot load Kubernetes credentials ({error}): set HICLAW_KUBECONFIG or KUBECONFIG to a kubeconfig, "
            "or run the controller in a pod"
        ) from None
    # One quick retry at most: a reconcile retries with backoff on BackendUnavailable anyway.
    configuration.retries = 1
    return client.ApiClient(configuration)


def server_message(error) -> str:
    """The API server's own explanation (the Status message), else the HTTP reason."""
    try:
        return json.loads(error.body)["message"]
    except (TypeError, ValueError, KeyError):
        return str(error.reason or error)


@contextmanager
def api_errors(verb: str, resource: str, name: str = "", *, namespace: str = "") -> Iterator[None]:
    """Turn client and transport errors into backend errors naming the call that failed.

    404 raises InstanceNotFound (callers that expect it catch it); 409 InstanceConflict;
    403 from RBAC says which verb on which resource the controller's Role lacks.
    """
    import urllib3
    from kubernetes.client.exceptions import ApiException

    what = f"{verb} {resource}{'/' + name if name else ''}" + (f" in namespace {namespace}" if namespace else "")
    try:
        yield
    except ApiException as error:
        status, message = error.status or 0, server_message(error)
        if status == 0 or status == 429 or status >= 500:
            raise BackendUnavailable(
                f"cannot {what}: the API server answered {status or 'nothing'}: {message}"
            ) from None
        if status == 403 and "cannot " in message:  # RBAC: 'User "…" cannot create resource "pods" …'
            raise BackendError(
                f"cannot {what}: forbidden, the controller's Role lacks the verb {verb!r} on {resource!r} ({message})"
            ) from None
        if status == 403:  # an admission check: a quota, a pod security level, a missing PriorityClass
            raise BackendError(f"cannot {what}: forbidden: {message}") from None
        if status == 401:
            raise BackendError(
                f"cannot {what}: the API server refused the controller's credentials ({message})"
            ) from None
        if status == 404:
            raise InstanceNotFound(f"cannot {what}: {message}") from None
        if status == 409:
            raise InstanceConflict(f"cannot {what}: {message}") from None
        raise BackendError(f"cannot {what}: {message}") from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise BackendUnavailable(f"cannot {what}: the Kubernetes API server is not answering ({error})") from None


def missing_namespace(error: InstanceNotFound, namespace: str) -> BackendError | None:
    """A 404 on a create means the namespace is not there: a mistake to fix, not a missing instance."""
    if "namespaces" in str(error) and namespace in str(error):
        return BackendError(
            f"namespace {namespace!r} does not exist: create it, or set HICLAW_NAMESPACE to the namespace to use"
        )
    return None
