"""The dashboard's read side: what a page or a live update shows, filtered by the policy.

Querysets here load or annotate everything a page shows, so a page costs the
same number of queries whatever the number of teams or workers. ``worker_row``
and ``team_row`` are the JSON the live consumer sends; templates render the
same fields, addressed by ``data-field`` so the browser can update them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404, QueryDict
from django.utils import timezone

from controller import policy
from controller.models import AgentPhase, DebugWorker, Human, Manager, MemberRole, Team, TeamPhase, Worker
from controller.models.agent import AgentResource
from controller.reconcilers.agent import SETTLED_PHASES
from controller.services import heartbeat_health
from controller.services.agent_timing import heartbeat_every
from controller.services.summary import DASHBOARD_FIELDS, WorkerSummary

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class MemberCounts(TypedDict):
    """What ``teams_with_health`` counts of each team's live members."""

    total_workers: int
    ready_workers: int
    leader_ready: int
    unhealthy: int
    idle: int
    failed: int
    unsettled: int


TeamWithHealth: TypeAlias = "WithAnnotations[Team, MemberCounts]"

PAGE_SIZE = 50  # rows a list page shows; HICLAW_DASHBOARD_PAGE_SIZE overrides it
HEARTBEAT_CHART_POINTS = 60

# ?sort= keys of worker tables and the columns they order by.
WORKER_SORTS = {
    "name": "name",
    "team": "team__name",
    "phase": "phase",
    "state": "state",
    "container": "container_state",
    "heartbeat": "last_heartbeat",
    "idle": "idle_since",
    "image": "image",
    "skills": "skills_version",
    "model": "model",
}
TEAM_SORTS = {"name": "name", "phase": "phase"}


# --- querysets -------------------------------------------------------------------------
def visible_workers(principal: policy.Principal) -> QuerySet[Worker]:
    return policy.visible(principal, Worker.objects.select_related("team"))


def teams_with_health(principal: policy.Principal) -> QuerySet[TeamWithHealth]:
    """Visible teams, each annotated with its members' counts (one query for any number of teams)."""
    live = Q(members__deletion_requested_at__isnull=True)
    worker = live & Q(members__role=MemberRole.WORKER)
    running = Q(members__phase=AgentPhase.RUNNING)
    return policy.visible(principal, Team.objects.all()).annotate(
        total_workers=Count("members", filter=worker),
        ready_workers=Count("members", filter=worker & running),
        leader_ready=Count("members", filter=live & running & Q(members__role=MemberRole.TEAM_LEADER)),
        unhealthy=Count("members", filter=live & Q(members__heartbeat_missed_since__isnull=False)),
        # Workers only, like ready/total: a leader is never put to sleep, its idle time is no news.
        idle=Count("members", filter=worker & running & Q(members__idle_since__isnull=False)),
        failed=Count("members", filter=live & Q(members__phase=AgentPhase.FAILED)),
        unsettled=Count("members", filter=live & ~Q(members__phase=F("members__state"))),
    )


def list_filter(query_string: bytes | str) -> dict[str, str]:
    """The Workers list's filters (``filtered_workers``) from a query string (the page's, or its
    socket's), the empty ones left out."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    params = QueryDict(query_string)
    return {key: params[key] for key in FILTER_KEYS if params.get(key)}


def named_or_404(rows: QuerySet, name: str):
    """The row named ``name`` among ``rows`` (already filtered by the policy), else a 404: the
    answer a missing one gets, so a page never tells that a row out of scope exists."""
    row = rows.filter(name=name).first()
    if row is None:
        raise Http404(f"{rows.model.kind.lower()}/{name} not found")
    return row


# --- sorting and pages -----------------------------------------------------------------
def sorted_by(queryset: QuerySet, request, sorts: dict[str, str], default: str = "name") -> tuple[QuerySet, str]:
    """``queryset`` ordered by the request's ``?sort=`` (``-`` for descending); unknown keys fall back."""
    wanted = request.GET.get("sort", default)
    key = wanted.lstrip("-")
    if key not in sorts:
        wanted, key = default, default.lstrip("-")
    column = sorts[key]
    descending = wanted.startswith("-")
    order = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
    return queryset.order_by(order, "name"), wanted


HEALTH_FILTERS = (heartbeat_health.OK, heartbeat_health.LATE, heartbeat_health.MISSED)
FILTER_KEYS = ("q", "team", "phase", "health")  # the Workers list's filters


def filtered_workers(rows: QuerySet, params: Mapping[str, str]) -> tuple[QuerySet, dict[str, str]]:
    """``rows`` narrowed by the filters in ``params`` (a request's GET or POST), all
    case-insensitive: ``q`` (part of the name), ``team`` (``-``: standalone), ``phase`` and
    ``health`` (ok, late, missed); returns the filters as read, for the form. An unknown
    phase or health matches nothing."""
    wanted = {key: (params.get(key) or "").strip() for key in FILTER_KEYS}
    if wanted["q"]:
        rows = rows.filter(name__icontains=wanted["q"])
    if wanted["team"] == "-":
        rows = rows.filter(team__isnull=True)
    elif wanted["team"]:
        rows = rows.filter(team__name__iexact=wanted["team"])
    if wanted["phase"]:
        rows = rows.filter(phase__iexact=wanted["phase"])
    health = wanted["health"].lower()
    if health:
        known = health in HEALTH_FILTERS
        rows = rows.filter(heartbeat_health.health_rows(health, timezone.now())) if known else rows.none()
    return rows, wanted


def page_of(queryset: QuerySet, request, size: int | None = None) -> Page:
    """One page (``?page=``): a count and a slice, two queries however long the list."""
    rows = size or int(getattr(settings, "HICLAW_DASHBOARD_PAGE_SIZE", PAGE_SIZE))
    return Paginator(queryset, rows).get_page(request.GET.get("page"))


# --- health ----------------------------------------------------------------------------
def team_health(team: TeamWithHealth) -> str:
    """``bad`` (red), ``warn`` (amber) or ``ok`` (green), from an annotated team."""
    if team.phase == TeamPhase.FAILED or team.failed or team.unhealthy:
        return "bad"
    if team.phase != TeamPhase.ACTIVE or team.unsettled:
        return "warn"
    return "ok"


def worker_health(worker: Worker) -> str:
    if worker.phase == AgentPhase.FAILED or worker.heartbeat_missed_since is not None:
        return "bad"
    if worker.phase != SETTLED_PHASES.get(worker.state):
        return "warn"
    return "ok"


def manager_interval(manager: Manager) -> str:
    """How often the Manager's agent checks on the deployment (its ``config.heartbeatInterval``);
    how often it reports is ``HICLAW_AGENT_HEARTBEAT_SECONDS``, as every agent."""
    return heartbeat_every({}, manager.config)


def manager_health(manager: Manager) -> str:
    """``bad`` when Failed or its heartbeats are missed (the rule the sweeper judges a worker by),
    ``warn`` while unsettled, not yet reported or late, else ``ok``."""
    if manager.phase == AgentPhase.FAILED:
        return "bad"
    if manager.phase != SETTLED_PHASES.get(manager.state):
        return "warn"
    if manager.phase != AgentPhase.RUNNING:
        return "ok"
    if manager.last_heartbeat is None:
        return "warn"
    health = heartbeat_health.health(manager, timezone.now())
    return {heartbeat_health.MISSED: "bad", heartbeat_health.LATE: "warn"}.get(health, "ok")


HEARTBEAT_LABELS = {heartbeat_health.OK: "", heartbeat_health.LATE: "late", heartbeat_health.MISSED: "missed"}


def heartbeat_view(agent: AgentResource, now: datetime | None = None) -> dict[str, Any]:
    """What colours an agent's heartbeat age: its health now, and what the page script needs
    to move it on as the age ticks — the moment the silence counts from (absent when the
    agent is not expected to report) and the interval, in seconds."""
    since = heartbeat_health.counted_from(agent) if heartbeat_health.judged(agent) else None
    return {
        "health": heartbeat_health.health(agent, now or timezone.now()),
        "since": since.isoformat() if since else None,
        "interval": heartbeat_health.interval_seconds(),
    }


# --- what live pages receive ---------------------------------------------------------------
def worker_row(worker: Worker) -> dict[str, Any]:
    """The worker's summary as the dashboard shows it: blanks spelled out, and its health colour."""
    row = WorkerSummary.of(worker).pick(DASHBOARD_FIELDS)
    row["containerState"] = row["containerState"] or "—"
    row["image"] = row["image"] or "runtime default"
    row["skillsVersion"] = row["skillsVersion"] or "—"
    row["runningImage"] = row["runningImage"] or "—"
    row["runtimeLabel"] = f"{worker.runtime} {worker.runtime_version}".strip()
    row["health"] = worker_health(worker)
    row["heartbeat"] = heartbeat_view(worker)
    return row


def team_row(team: TeamWithHealth) -> dict[str, Any]:
    """An annotated team (``teams_with_health``) as the overview and team pages show it."""
    return {
        "name": team.name,
        "phase": team.phase,
        "leaderReady": "yes" if team.leader_ready else "no",
        "workers": f"{team.ready_workers}/{team.total_workers}",
        "unhealthy": team.unhealthy,
        "idle": team.idle,
        "health": team_health(team),
        "message": team.message,
    }


def debugworker_row(debugworker: DebugWorker) -> dict[str, Any]:
    """A DebugWorker as the DebugWorkers list, a team's page and its own page show it."""
    return {
        "name": debugworker.name,
        "team": debugworker.team_name,
        "phase": debugworker.phase,
        "containerState": debugworker.container_state or "—",
        "message": debugworker.message,
    }


def manager_row(manager: Manager) -> dict[str, Any]:
    """A Manager as the Managers list and its own page show it."""
    last = manager.last_heartbeat
    return {
        "name": manager.name,
        "phase": manager.phase,
        "state": manager.state,
        "containerState": manager.container_state or "—",
        "model": manager.model,
        "image": manager.image or "runtime default",
        "version": manager.version or "—",
        "message": manager.message,
        "health": manager_health(manager),
        "lastHeartbeat": last.isoformat() if last else None,
        "heartbeat": heartbeat_view(manager),
    }


def human_row(human: Human, login: str) -> dict[str, Any]:
    """A Human as the Humans page shows it; ``login`` from controller.services.logins.login_of."""
    spec = human.spec or {}
    return {
        "name": human.name,
        "displayName": spec.get("displayName") or "—",
        "level": f"{human.permission_level} ({human.get_permission_level_display()})",
        "teams": ", ".join(spec.get("accessibleTeams") or []) or "—",
        "workers": ", ".join(spec.get("accessibleWorkers") or []) or "—",
        "phase": human.phase,
        "message": human.message,
        "login": login or "—",
    }


def read_teams(principal: policy.Principal, names: set[str]) -> list[TeamWithHealth]:
    return list(teams_with_health(principal).filter(name__in=names))
