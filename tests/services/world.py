"""Reconcilers wired to the real services (Docker, Synapse, S3 on moto, the gateway stand-in),
and a driver that plays the Celery worker: it runs the reconciles that passes queue.

No Higress console can be had here: the gateway side is the in-test HTTP
stand-in of its console API (tests/gateway_standin.py).
"""

from __future__ import annotations

import uuid
from collections import deque

import pytest

from controller import reconcilers
from controller.backends.docker import DockerBackend
from controller.clients.gateway import GatewayClient
from controller.clients.storage import storage_from_url
from controller.connections import Connections, default_connections
from tests.gateway_standin import HigressStandin


class Driver:
    """Runs reconciles like a Celery worker would, in order, until nothing is queued."""

    def __init__(self, connections: Connections):
        self.queue: deque[tuple[str, str]] = deque()
        connections.enqueue = lambda kind, name: self.queue.append((kind, name))
        self.connections = connections

    def reconcile(self, kind: str, name: str):
        return reconcilers.reconcile(kind, name, connections=self.connections)

    def converge(self, *targets: tuple[str, str], max_passes: int = 200) -> None:
        self.queue.extend(targets)
        for _ in range(max_passes):
            if not self.queue:
                return
            kind, name = self.queue.popleft()
            if (kind, name) not in self.queue:  # a later pass covers an earlier request
                self.reconcile(kind, name)
        pytest.fail(f"reconciles did not settle in {max_passes} passes: {list(self.queue)[:10]}")


@pytest.fixture
def gateway_standin():
    with HigressStandin(password="console-pass") as standin:
        standin.add_provider("default")
        standin.add_mcp_server("github")
        yield standin


@pytest.fixture
def real_services(synapse, moto_server, docker_service, gateway_standin, settings) -> Connections:
    settings.HICLAW_MATRIX_URL = synapse.base_url
    settings.HICLAW_MATRIX_DOMAIN = synapse.server_name
    settings.HICLAW_GATEWAY_URL = gateway_standin.url
    settings.HICLAW_WORKER_IMAGE = docker_service.image
    settings.HICLAW_MANAGER_IMAGE = docker_service.image
    settings.HICLAW_CONTROLLER_URL = "http://controller.test:8000"
    return Connections(
        backend=DockerBackend(controller_id=docker_service.controller_id, network=docker_service.network),
        storage=storage_from_url(moto_server.storage_url(f"e2e-{uuid.uuid4().hex[:10]}")),
        matrix=synapse.client(),
        gateway=GatewayClient(gateway_standin.url, "admin", "console-pass"),
        admin_session=synapse.admin,
    )


@pytest.fixture
def real_driver(real_services) -> Driver:
    return Driver(real_services)


@pytest.fixture
def matrix_driver(synapse, settings) -> Driver:
    """Real Synapse; the embedded backend and storage; no gateway."""
    settings.HICLAW_MATRIX_URL = synapse.base_url
    settings.HICLAW_MATRIX_DOMAIN = synapse.server_name
    embedded = default_connections()
    return Driver(
        Connections(
            backend=embedded.backend,
            storage=embedded.storage,
            matrix=synapse.client(),
            gateway=embedded.gateway,
            admin_session=synapse.admin,
        )
    )


@pytest.fixture
def embedded_driver() -> Driver:
    """The embedded services of tests/conftest.py (process backend, file storage)."""
    return Driver(default_connections())
