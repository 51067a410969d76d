"""The Upgrades page (docs/dashboard.md, "Upgrades"): pushes and rollouts with their progress,
live over ``/ws/upgrades/`` (debugui.upgrades_consumer), and the workers that need one."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from debugui import queries
from debugui.upgrades_consumer import visible_upgrades
from debugui.versions import needing_upgrade
from debugui.views import page_context, principal_of

NAMES_SHOWN = 20  # of the workers needing an upgrade; the count says how many more


@login_required
def upgrades(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    page = queries.page_of(visible_upgrades(principal), request)
    for upgrade in page:
        targets = list(upgrade.targets.all())
        upgrade.done = sum(target.state == "done" for target in targets)
        upgrade.failed = sum(target.state == "failed" for target in targets)
        upgrade.total = len(targets)
    required = needing_upgrade(queries.visible_workers(principal))
    context = page_context(
        request,
        page=page,
        required=required[:NAMES_SHOWN],
        required_count=len(required),
    )
    return render(request, "debugui/upgrades.html", context)
