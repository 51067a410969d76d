"""The Celery application: reconciles and periodic sweeps run here."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init, worker_ready, worker_shutdown
from django.conf import settings

from controller.metrics_server import MetricsPortError, MetricsServer, configured
from hiclaw_site.datadir import DataDirError, require_store

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiclaw_site.settings")

app = Celery("hiclaw_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _require_store(**_) -> None:
    """A worker or beat started against a store never set up says so, instead of failing later."""
    try:
        require_store()
    except DataDirError as exc:
        raise SystemExit(f"error: {exc}") from None


# The worker's own metrics port (HICLAW_METRICS_PORT), in its main process only: its socket is
# bound at start, so a bad setting or a port in use stops the worker at once, and it is served
# once the pool's first children exist; each child closes the copy of the socket it inherits.
_metrics_port: list[MetricsServer] = []


@worker_init.connect
def _bind_metrics_port(**_) -> None:
    try:
        address = configured()
        if address is not None:
            _metrics_port.append(MetricsServer(address, settings.HICLAW_METRICS_TOKEN))
    except (MetricsPortError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None


@worker_ready.connect
def _serve_metrics_port(**_) -> None:
    for server in _metrics_port:
        server.start()


@worker_process_init.connect
def _leave_metrics_port_to_main_process(**_) -> None:
    # A pool child starts with a copy of the main process's sockets (the solo pool sends this
    # signal in the main process itself, which keeps its port).
    for server in _metrics_port:
        server.leave_to_parent()


@worker_shutdown.connect
def _close_metrics_port(**_) -> None:
    while _metrics_port:
        _metrics_port.pop().stop()
