"""The connections to the outside world a reconciler talks to (backend, storage, Matrix,
gateway), built from the settings once per process."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from controller.backends import get_backend
from controller.backends.base import WorkerBackend
from controller.clients.gateway import DisabledGateway, GatewayClient, get_gateway
from controller.clients.matrix import MatrixClient, MatrixSession, get_matrix
from controller.clients.storage import Storage, get_storage
from controller.naming import derived_secret
from controller.reconcile_queue import enqueue as queue_reconcile


@dataclass
class Connections:
    """One of each external client; tests build their own to reach real or broken services."""

    backend: WorkerBackend
    storage: Storage
    matrix: MatrixClient | None
    gateway: GatewayClient | DisabledGateway
    admin_session: MatrixSession | None = field(default=None, repr=False)
    # How a reconciler asks for another resource's reconcile (a Celery task by default).
    enqueue: Callable[[str, str], None] = field(default=queue_reconcile, repr=False)
    # What time it is for decisions that wait on the clock (a DebugWorker's expiry);
    # tests pass a fake one instead of sleeping.
    clock: Callable[[], datetime] = field(default=timezone.now, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def require_matrix(self) -> MatrixClient:
        """The Matrix client, for steps that only run when Matrix is configured."""
        if self.matrix is None:
            raise RuntimeError("Matrix is disabled (HICLAW_MATRIX_URL is not set)")
        return self.matrix

    def matrix_admin(self) -> MatrixSession:
        """The controller's own Matrix account (server admin), registered once per process."""
        with self._lock:
            if self.admin_session is None:
                password = settings.HICLAW_MATRIX_ADMIN_PASSWORD or derived_secret("matrix-admin", "admin")
                self.admin_session = self.require_matrix().register(
                    settings.HICLAW_MATRIX_ADMIN_USER, password, admin=True
                )
            return self.admin_session


@functools.cache
def default_connections() -> Connections:
    """The process's connections, as the settings describe them."""
    return Connections(backend=get_backend(), storage=get_storage(), matrix=get_matrix(), gateway=get_gateway())
