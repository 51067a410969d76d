"""The worker page's Heartbeats card alone, for the page to refetch when a heartbeat
arrives (docs/dashboard.md, "Live updates"), as it refetches Recent events."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from debugui import queries
from debugui.heartbeat_card import card_context
from debugui.views import principal_of


@login_required
def worker_heartbeats(request: HttpRequest, name: str) -> HttpResponse:
    """A 404 outside the login's scope, like the page."""
    worker = queries.named_or_404(queries.visible_workers(principal_of(request)), name)
    return render(request, "debugui/_heartbeats.html", {"worker": worker, **card_context(worker=worker)})
