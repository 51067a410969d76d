"""Worker backends: a registry of implementations and the factory that picks one from settings.

Implementations are registered by dotted path and imported only when chosen,
so the embedded mode never imports the Docker or Kubernetes SDKs.
"""

from __future__ import annotations

import functools
import logging
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from controller.backends.base import (
    BackendError,
    BackendUnavailable,
    ImageNotFound,
    InstanceConflict,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    InstanceState,
    InstanceStatus,
    InvalidSpec,
    WorkerBackend,
)

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ImageNotFound",
    "InstanceConflict",
    "InstanceInfo",
    "InstanceNotFound",
    "InstanceSpec",
    "InstanceState",
    "InstanceStatus",
    "InvalidSpec",
    "WorkerBackend",
    "get_backend",
]

logger = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {
    "docker": "controller.backends.docker.DockerBackend",
    "process": "controller.backends.process.ProcessBackend",
    "kubernetes": "controller.backends.kubernetes.KubernetesBackend",
}

DOCKER_PING_TIMEOUT = 1.0


def get_backend(name: str | None = None, **options) -> WorkerBackend:
    """A backend by name, by default ``settings.HICLAW_BACKEND``.

    ``auto`` is kubernetes inside a pod (KUBERNETES_SERVICE_HOST set: the controller was deployed
    there, and its agents belong there too), else docker if it answers, else process.
    """
    name = name or settings.HICLAW_BACKEND
    if name == "auto":
        name = resolve_auto()
    if name not in BACKENDS:
        raise ImproperlyConfigured(f"HICLAW_BACKEND must be auto or one of {', '.join(sorted(BACKENDS))}, got {name!r}")
    return import_string(BACKENDS[name])(**options)


@functools.cache
def resolve_auto() -> str:
    """Decide once per process: a backend that flipped while the engine restarts would orphan every instance."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):  # deployed in a pod: its agents are pods too
        chosen = "kubernetes"
    elif docker_answers():
        chosen = "docker"
    else:
        chosen = "process"
    logger.info("HICLAW_BACKEND=auto: using the %s backend", chosen)
    return chosen


def docker_answers(timeout: float = DOCKER_PING_TIMEOUT) -> bool:
    """Whether a Docker Engine (DOCKER_HOST, else the local socket) answers a ping within ``timeout``."""
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        return False  # the common embedded case: no need to import the SDK at all
    try:
        import docker

        client = docker.from_env(version="auto", timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure (no SDK, refused, timeout, TLS) means "not usable"
        logger.debug("no Docker Engine answering", exc_info=True)
        return False
