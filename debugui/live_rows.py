"""The HTML of one row or card a live page adds without reloading (docs/dashboard.md, "Live updates").

The socket only names what changed (debugui.consumers); a page that lacks the row
fetches it here, over HTTP with the login's session, so the same policy decides
what it may see (a 404 for a row out of its scope, like the pages) and the row is
the very partial the page renders. The Workers list's filters (``?team=``, ``?q=``,
``?phase=``, ``?health=``) and ``?role=`` give the page's filter:
a row outside it is a 204, nothing to add. ``?next=`` is the page the row's action
forms return to (the fragment's own address is no page).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from controller import policy
from controller.models import DebugWorker, Human, Manager, Team
from controller.services import events, logins
from debugui import queries
from debugui.views import AUDIT_EVENTS, TEAM_EVENTS_EMPTY, principal_of


def _next_path(request: HttpRequest) -> str:
    wanted = request.GET.get("next", "")
    allowed = url_has_allowed_host_and_scheme(wanted, {request.get_host()}) and wanted.startswith("/")
    return wanted if allowed else "/"


@login_required
def worker_row(request: HttpRequest, name: str) -> HttpResponse:
    worker = queries.named_or_404(queries.visible_workers(principal_of(request)), name)
    role = request.GET.get("role", "")
    outside = not queries.filtered_workers(type(worker).objects.filter(pk=worker.pk), request.GET)[0].exists()
    if outside or (role and worker.role != role):
        return HttpResponse(status=204)
    worker.health = queries.worker_health(worker)
    context = {"w": worker, "show_team": request.GET.get("show_team") == "1", "next_path": _next_path(request)}
    return render(request, "debugui/_worker_row.html", context)


@login_required
def worker_events(request: HttpRequest, name: str) -> HttpResponse:
    """The worker page's Recent events list, after a change or a recorded event."""
    worker = queries.named_or_404(queries.visible_workers(principal_of(request)), name)
    context = {"timeline": events.timeline("Worker", worker.name, AUDIT_EVENTS)}
    return render(request, "debugui/_worker_events.html", context)


@login_required
def team_events(request: HttpRequest, name: str) -> HttpResponse:
    """The team page's Recent events list: the Team's and its members' entries."""
    team = queries.named_or_404(policy.visible(principal_of(request), Team.objects.all()), name)
    context = {"timeline": events.team_timeline(team.name, AUDIT_EVENTS), "empty": TEAM_EVENTS_EMPTY}
    return render(request, "debugui/_worker_events.html", context)


@login_required
def debugworker_row(request: HttpRequest, name: str) -> HttpResponse:
    """A row of the DebugWorkers list, or with ``?team=`` of that team page's DebugWorkers card."""
    principal, team = principal_of(request), request.GET.get("team", "")
    if team:
        rows = policy.visible(principal, DebugWorker.objects.filter(team_name=team))
    else:
        rows = policy.visible_or_usable(principal, DebugWorker.objects.all())
    debugworker = queries.named_or_404(rows, name)
    template = "debugui/_team_debugworker_row.html" if team else "debugui/_debugworker_row.html"
    return render(request, template, {"d": debugworker, "next_path": _next_path(request)})


@login_required
def manager_row(request: HttpRequest, name: str) -> HttpResponse:
    """A row of the Managers list (admins only, as the policy has it)."""
    manager = queries.named_or_404(policy.visible(principal_of(request), Manager.objects.all()), name)
    manager.health = queries.manager_health(manager)
    return render(request, "debugui/_manager_row.html", {"m": manager})


@login_required
def human_row(request: HttpRequest, name: str) -> HttpResponse:
    """A row of the Humans list, its login as the list shows it."""
    human = queries.named_or_404(policy.visible(principal_of(request), Human.objects.select_related("user")), name)
    same_name = set(get_user_model().objects.filter(username=name).values_list("username", flat=True))
    human.login = logins.login_of(human, same_name)
    return render(request, "debugui/_human_row.html", {"h": human})
