"""``GET /metrics``: the controller's Prometheus metrics (docs/metrics.md).

Who may read them: with ``HICLAW_METRICS_TOKEN`` set, a request that carries
``Authorization: Bearer <token>`` (compared in constant time); any other gets 401
and nothing more. With no token set, only a request made on this machine directly
(from a loopback address, through no proxy, with ``HICLAW_BEHIND_PROXY`` off), so
``make run`` users can ``curl`` it; any other gets the 404 of a page that does not
exist. An unconfigured controller never shows its metrics to the network.

What is served: this process's families, or with ``PROMETHEUS_MULTIPROC_DIR`` set
those of every process that writes to that directory (web and Celery workers),
added up; plus the gauges read from the database, computed here only.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from controller import metrics
from controller.services.fleet_metrics import FleetCollector

# Headers a reverse proxy adds: a request that came through one is not a local request,
# even though the proxy itself connects from loopback.
FORWARDING_HEADERS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_REAL_IP")
PLAIN = "text/plain; charset=utf-8"


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.HICLAW_METRICS_TOKEN
    if token:
        if not metrics.bearer_matches(request.headers.get("Authorization", ""), token):
            return HttpResponse(
                metrics.UNAUTHORIZED, status=401, content_type=PLAIN, headers={"WWW-Authenticate": "Bearer"}
            )
    elif not _local(request):
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    body = generate_latest(_scrape())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _local(request: HttpRequest) -> bool:
    if settings.HICLAW_BEHIND_PROXY or any(header in request.META for header in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _scrape() -> CollectorRegistry:
    """A registry for this scrape alone: the database gauges join it here, in the one
    process that answers, so no other process can add them a second time."""
    registry = metrics.counted_families()
    registry.register(FleetCollector())
    return registry
