"""A Celery worker's own metrics port (``HICLAW_METRICS_PORT``; docs/metrics.md).

On Kubernetes the web and the Celery workers run in pods of their own, which share
no ``PROMETHEUS_MULTIPROC_DIR``: the web's /metrics cannot see what a worker pod's
pool counted. So each worker's main process serves the counted families of its own
pool (added up over the directory of its pod) on a port of its own, and Prometheus
scrapes every worker pod besides the web. The gauges read from the database are
left to the web's /metrics: served by every worker pod too, they would be counted
once per pod.

Who may read: the same rule as /metrics, through the same check
(``metrics.bearer_matches``). With ``HICLAW_METRICS_TOKEN`` set, only a request
with ``Authorization: Bearer <token>``; without a token, the port listens on
loopback only, so nothing off the machine (or pod) can reach it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from prometheus_client import make_wsgi_app

from controller import metrics

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
EVERYWHERE = "0.0.0.0"  # noqa: S104  # only with a token: the scrape then needs it from anywhere

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class MetricsPortError(ValueError):
    """HICLAW_METRICS_PORT or HICLAW_METRICS_BIND cannot be used; the message names which."""


@dataclass(frozen=True)
class Address:
    host: str
    port: int


def configured() -> Address | None:
    """Where the worker's metrics port listens, from the settings; ``None`` when it is off."""
    port = settings.HICLAW_METRICS_PORT
    if not port:
        return None
    if not 0 < port < 65536:
        raise MetricsPortError(f"HICLAW_METRICS_PORT must be a port number from 1 to 65535, got {port}")
    token = settings.HICLAW_METRICS_TOKEN
    host = settings.HICLAW_METRICS_BIND.strip() or (EVERYWHERE if token else LOOPBACK)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise MetricsPortError(f"HICLAW_METRICS_BIND must be an IP address, got {host!r}") from None
    if not token and not loopback:
        # Without a token anyone who reaches the port reads it: refuse rather than expose it.
        raise MetricsPortError(
            f"HICLAW_METRICS_BIND={host} reaches other machines: set HICLAW_METRICS_TOKEN, "
            "or leave HICLAW_METRICS_BIND unset to listen on 127.0.0.1"
        )
    return Address(host, port)


def protected(app: WsgiApp, token: str) -> WsgiApp:
    """``app`` behind the bearer token (no token: the address alone protects it)."""

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if token and not metrics.bearer_matches(environ.get("HTTP_AUTHORIZATION", ""), token):
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", "Bearer")]
            start_response("401 Unauthorized", headers)
            return [metrics.UNAUTHORIZED.encode()]
        return app(environ, start_response)

    return guarded


class _Server(ThreadingMixIn, WSGIServer):
    # One slow scrape does not hold up the next; request threads die with the process.
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    # wsgiref writes a line per request to stderr: once every scrape interval is noise.
    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetricsServer:
    """The port, served by a daemon thread until ``stop()`` (or the process's end)."""

    def __init__(self, address: Address, token: str) -> None:
        server_class = type("_Server", (_Server,), {"address_family": _family(address.host)})
        app = protected(make_wsgi_app(metrics.counted_families()), token)
        self._httpd: WSGIServer = make_server(address.host, address.port, app, server_class, _Quiet)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics-port", daemon=True)
        self._owner = os.getpid()

    @property
    def bound(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self._thread.start()
        logger.info("metrics served on %s port %d", *self.bound)
        return self

    def stop(self) -> None:
        # shutdown() waits for serve_forever to notice, so it is only asked of a running thread.
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()

    def leave_to_parent(self) -> None:
        """In a process forked from the one serving (a prefork pool child), close the copy of
        the listening socket the fork gave it: the child never answers on it, and holding it
        would keep the port open after the worker's main process is gone."""
        if os.getpid() != self._owner:
            self._httpd.socket.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
