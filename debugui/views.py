"""Dashboard pages (docs/dashboard.md): ask the policy what the login may see, load it, render it.

Every list goes through ``policy.visible``; a page about something the login
may not see is a 404, so nothing outside its teams is revealed. Each page runs
a fixed number of queries whatever the number of teams or workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from controller import policy
from controller.manifests import dump_yaml, to_manifest
from controller.manifests.schema import Permissions
from controller.models import AgentPhase, DebugWorker, Human, Manager, MemberRole, Worker
from controller.services import events, logins
from controller.services.inspection import generated_files, log_tail
from debugui import live_pages, queries
from debugui.forms import DebugWorkerForm, ImageForm, ModelForm
from debugui.heartbeat_card import card_context
from debugui.versions import member_versions, team_rollout_question, team_skills_version

AUDIT_EVENTS = 15
TEAM_EVENTS_EMPTY = "No recorded actions or events on this team or its members."


class _PrincipalRequest(HttpRequest):
    """A request that carries the policy's principal once ``principal_of`` worked it out."""

    _hiclaw_principal: policy.Principal


def principal_of(request: HttpRequest) -> policy.Principal:
    """The login's identity for the policy, worked out once per request."""
    cached = cast(_PrincipalRequest, request)
    if not hasattr(cached, "_hiclaw_principal"):
        cached._hiclaw_principal = policy.principal_for_user(request.user)
    return cached._hiclaw_principal


def page_context(request: HttpRequest, **extra) -> dict:
    """What every page's template gets; ``live_path`` (the socket of live pages) comes from
    debugui.live_pages unless the view sets it."""
    principal = principal_of(request)
    return {
        "principal": principal,
        "is_admin": principal.identity in policy.ALL_POWERFUL,
        "live_path": live_pages.live_path(request),
        **extra,
    }


def _with_health(page: Iterable[Any], health: Callable[[Any], str]) -> None:
    """Give each row the ``health`` its template shows (a display value, not a column)."""
    for row in page:
        row.health = health(row)


# --- overview ------------------------------------------------------------------------------
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    if principal.identity == policy.NOBODY:
        # A login with no team may still be one a DebugWorker is for (its allowedUsers).
        usable = policy.visible_or_usable(principal, DebugWorker.objects.all()).order_by("name")[:50]
        # No team to watch: the page has no socket (the overview's would refuse this login).
        context = page_context(request, debugworkers=usable, live_path="")
        return render(request, "debugui/no_role.html", context)
    teams, sort = queries.sorted_by(queries.teams_with_health(principal), request, queries.TEAM_SORTS)
    page = queries.page_of(teams, request)
    _with_health(page, queries.team_health)
    counts = {
        "workers": queries.visible_workers(principal).filter(deletion_requested_at__isnull=True).count(),
        "standalone": policy.visible(principal, Worker.objects.filter(team__isnull=True)).count(),
        "debugworkers": policy.visible(principal, DebugWorker.objects.all()).count(),
    }
    return render(
        request,
        "debugui/overview.html",
        page_context(request, page=page, sort=sort, counts=counts),
    )


# --- teams ---------------------------------------------------------------------------------
@login_required
def team_detail(request: HttpRequest, name: str) -> HttpResponse:
    principal = principal_of(request)
    team = queries.named_or_404(queries.teams_with_health(principal), name)
    team.health = queries.team_health(team)
    members = queries.visible_workers(principal).filter(team=team)
    leader = members.filter(role=MemberRole.TEAM_LEADER).first()
    workers, sort = queries.sorted_by(members.filter(role=MemberRole.WORKER), request, queries.WORKER_SORTS)
    page = queries.page_of(workers, request)
    _with_health(page, queries.worker_health)
    if leader is not None:
        _with_health([leader], queries.worker_health)
    debugworkers = list(policy.visible(principal, DebugWorker.objects.filter(team_name=name)).order_by("name")[:50])
    permissions = team.typed_spec.leader.permissions or Permissions()
    # The leader and this page's workers; the team's skills version is read from every member.
    shown = [*([leader] if leader is not None else []), *page]
    reported = members.exclude(skills_version="").order_by().values_list("skills_version", flat=True).distinct()
    return render(
        request,
        "debugui/team.html",
        page_context(
            request,
            team=team,
            leader=leader,
            page=page,
            sort=sort,
            debugworkers=debugworkers,
            permissions=permissions,
            max_workers=permissions.max_workers,
            debug_form=DebugWorkerForm(initial={"name": _free_debug_name(name, debugworkers)}),
            versions=member_versions(shown, team_skills_version(name, reported)),
            image_form=ImageForm(initial={"image": team.image}),
            rollout_question=team_rollout_question(team, ""),
            matrix_enabled=bool(settings.HICLAW_MATRIX_URL),
            timeline=events.team_timeline(team.name, AUDIT_EVENTS),
            timeline_empty=TEAM_EVENTS_EMPTY,
        ),
    )


def _free_debug_name(team: str, debugworkers: list[DebugWorker]) -> str:
    """A suggestion for a new DebugWorker's name: the team's default one is often taken."""
    taken = {debugworker.name for debugworker in debugworkers}
    candidates = (f"{team}-debug" if n == 1 else f"{team}-debug-{n}" for n in range(1, len(taken) + 2))
    return next(name for name in candidates if name not in taken)[:63]


# --- workers -------------------------------------------------------------------------------
# The worker list's bulk actions (debugui/bulk.py): the action and its button.
BULK_BUTTONS = (("sleep", "Sleep"), ("wake", "Wake"), ("ensure-ready", "Ensure ready"))


@login_required
def worker_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    rows, filters = queries.filtered_workers(queries.visible_workers(principal), request.GET)
    rows, sort = queries.sorted_by(rows, request, queries.WORKER_SORTS)
    page = queries.page_of(rows, request)
    _with_health(page, queries.worker_health)
    context = page_context(
        request,
        page=page,
        sort=sort,
        filters=filters,
        phases=AgentPhase.values,
        healths=queries.HEALTH_FILTERS,
        bulk_actions=BULK_BUTTONS,
        filter_query=urlencode({key: value for key, value in filters.items() if value}),
    )
    return render(request, "debugui/workers.html", context)


@login_required
def worker_detail(request: HttpRequest, name: str) -> HttpResponse:
    principal = principal_of(request)
    worker = queries.named_or_404(queries.visible_workers(principal), name)
    return render(request, "debugui/worker.html", worker_context(request, worker))


def worker_context(request: HttpRequest, worker: Worker) -> dict:
    _with_health([worker], queries.worker_health)
    permissions = (worker.team.typed_spec.leader.permissions if worker.team is not None else None) or Permissions()
    logs, log_error = log_tail(worker)
    files, files_error = generated_files(worker)
    return page_context(
        request,
        worker=worker,
        conditions=worker.status_manifest()["conditions"],
        **card_context(worker=worker),
        timeline=events.timeline("Worker", worker.name, AUDIT_EVENTS),
        logs=logs,
        log_error=log_error,
        files=files,
        files_error=files_error,
        manifest=dump_yaml([to_manifest(worker)]),
        allowed_models=permissions.allowed_models or [],
        model_locked=permissions.can_switch_model is False,
        image_form=ImageForm(initial={"image": worker.image}),
        model_form=ModelForm(initial={"model": worker.model}),
    )


# --- the rest ------------------------------------------------------------------------------
@login_required
def debugworker_list(request: HttpRequest) -> HttpResponse:
    rows = policy.visible_or_usable(principal_of(request), DebugWorker.objects.all())
    rows, sort = queries.sorted_by(rows, request, {"name": "name", "phase": "phase", "team": "team_name"})
    page = queries.page_of(rows, request)
    return render(request, "debugui/debugworkers.html", page_context(request, page=page, sort=sort))


@login_required
def debugworker_detail(request: HttpRequest, name: str) -> HttpResponse:
    debugworker = queries.named_or_404(policy.visible_or_usable(principal_of(request), DebugWorker.objects.all()), name)
    return render(
        request,
        "debugui/debugworker.html",
        page_context(
            request,
            debugworker=debugworker,
            manifest=dump_yaml([to_manifest(debugworker)]),
            may_browse=policy.may_use(principal_of(request), debugworker),
        ),
    )


@login_required
def manager_list(request: HttpRequest) -> HttpResponse:
    rows = policy.visible(principal_of(request), Manager.objects.all()).order_by("name")
    page = queries.page_of(rows, request)
    _with_health(page, queries.manager_health)
    return render(request, "debugui/managers.html", page_context(request, page=page))


HEALTH_NOTES = {
    "ok": "Healthy: it reports its heartbeats.",
    "warn": "Not settled, no heartbeat received from it yet, or its last one is late.",
    "bad": "Failed, or no heartbeat for three of its reporting intervals.",
}


@login_required
def manager_detail(request: HttpRequest, name: str) -> HttpResponse:
    manager = queries.named_or_404(policy.visible(principal_of(request), Manager.objects.all()), name)
    manager.health = queries.manager_health(manager)
    context = page_context(
        request,
        manager=manager,
        interval=queries.manager_interval(manager),
        health_note=HEALTH_NOTES[queries.manager_health(manager)],
        **card_context(manager=manager),
    )
    return render(request, "debugui/manager.html", context)


@login_required
def human_list(request: HttpRequest) -> HttpResponse:
    rows = policy.visible(principal_of(request), Human.objects.select_related("user")).order_by("name")
    page = queries.page_of(rows, request)
    names = {human.name for human in page}
    same_name = set(get_user_model().objects.filter(username__in=names).values_list("username", flat=True))
    for human in page:
        human.login = logins.login_of(human, same_name)
    return render(request, "debugui/humans.html", page_context(request, page=page))
