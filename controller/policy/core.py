"""The one authorization policy: who may see and do what.

REST views, dashboard views, WebSocket consumers and the CLI path all ask
here. ``visible(principal, queryset)`` filters every list; ``authorize``
raises ``NotFound`` (404) for a target outside the principal's scope, exactly
as for one that does not exist, ``Denied`` (403, naming the rule) for a
target in scope that the principal may not change, or ``QuotaExceeded`` (422,
with the numbers) for an action on a resource.

Identities: ``admin`` and ``manager`` may do anything. A ``team-leader``
acts on its own team's workers and DebugWorkers; a ``team-admin`` (a person
logged in to the dashboard) has the same reach over the teams they
administer. A ``worker`` acts only on itself. A ``debug-worker`` (a
DebugWorker's instance) changes nothing and only reads its targets' workspaces
(controller/policy/debug.py, which also says who may use a DebugWorker).
``none`` (a login with no role) sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from django.db.models import Model, QuerySet

from controller.errors import FORBIDDEN, NOT_FOUND, UNPROCESSABLE, DomainError
from controller.manifests.schema import Permissions
from controller.models import (
    AgentToken,
    DebugWorker,
    Human,
    Manager,
    MemberRole,
    PermissionLevel,
    Resource,
    Team,
    Upgrade,
    Worker,
)

_M = TypeVar("_M", bound=Model)

ADMIN, MANAGER, TEAM_LEADER, TEAM_ADMIN, WORKER, DEBUG_WORKER, NOBODY = (
    "admin",
    "manager",
    "team-leader",
    "team-admin",
    "worker",
    "debug-worker",
    "none",
)
ALL_POWERFUL = (ADMIN, MANAGER)
TEAM_SCOPED = (TEAM_LEADER, TEAM_ADMIN)

# Actions a principal asks for.
VIEW, CREATE, UPDATE, DELETE, LIFECYCLE = "view", "create", "update", "delete", "lifecycle"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as this policy sees it."""

    identity: str
    name: str
    team: str = ""  # the team of a team leader or team worker
    teams: frozenset[str] = field(default_factory=frozenset)  # the teams of a team admin
    is_authenticated: bool = True

    @property
    def managed_teams(self) -> frozenset[str]:
        """The teams this principal may act on as a leader would."""
        if self.identity == TEAM_LEADER:
            return frozenset({self.team})
        return self.teams if self.identity == TEAM_ADMIN else frozenset()

    def __str__(self) -> str:
        return f"{self.identity}:{self.name}" + (f"@{self.team}" if self.team else "")


class Denied(DomainError):
    """403: the rule that refused, in words."""

    status = FORBIDDEN


class QuotaExceeded(DomainError):
    """422: a team permission's limit, with the numbers; ``field`` the request field it is about."""

    status = UNPROCESSABLE

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    """404: no such resource, or one outside the caller's scope: the same answer for both, so
    a refusal never tells whether another team's resource exists. ``field`` names the
    request field that named it, when one did."""

    status = NOT_FOUND

    def __init__(self, kind: str, name: str, field: str = ""):
        self.kind, self.name, self.field = kind, name, field
        super().__init__(f"{kind.lower()}/{name} not found")


def principal_for_user(user) -> Principal:
    """The identity of a dashboard login."""
    if not user.is_authenticated:
        return Principal(NOBODY, "", is_authenticated=False)
    if user.is_superuser:
        return Principal(ADMIN, user.get_username())
    human = Human.objects.filter(user=user, deletion_requested_at__isnull=True).first()
    if human is not None and human.permission_level == PermissionLevel.ADMIN:
        return Principal(ADMIN, user.get_username())
    teams = set(Team.objects.filter(admin_name=user.get_username()).values_list("name", flat=True))
    if human is not None and human.permission_level == PermissionLevel.TEAM:
        teams |= set(human.typed_spec.accessible_teams or [])
    if teams:
        return Principal(TEAM_ADMIN, user.get_username(), teams=frozenset(teams))
    return Principal(NOBODY, user.get_username())


def principal_for_token(clear: str) -> Principal | None:
    """The identity a bearer token stands for, or None (invalid, expired, revoked or stale).

    An agent's token holds only while the agent is what it was minted as: a
    worker's or leader's token names a Worker row with that role in that team;
    a manager's, a Manager not being deleted. Changes through the API revoke
    tokens as they happen; this check also catches any other way a role
    changed, and revokes the stale token so it never comes back to life.
    Admin tokens are operators' and bound to no resource.
    """
    token = AgentToken.authenticate(clear)
    if token is None:
        return None
    if current_identity(token.identity, token.subject) != (token.identity, token.team):
        token.revoke()
        return None
    return Principal(token.identity, token.subject, team=token.team)


def current_identity(identity: str, subject: str) -> tuple[str, str] | None:
    """(identity, team) that ``subject`` has now, for a token minted as ``identity``; None when gone."""
    if identity in (WORKER, TEAM_LEADER):
        row = (
            Worker.objects.filter(name=subject, deletion_requested_at__isnull=True)
            .values_list("role", "team__name")
            .first()
        )
        if row is None:
            return None
        role, team = row
        return (TEAM_LEADER if role == MemberRole.TEAM_LEADER else WORKER), team or ""
    if identity == MANAGER and Manager.objects.filter(name=subject, deletion_requested_at__isnull=False).exists():
        return None
    if identity == DEBUG_WORKER:
        # Its instance's token holds while the DebugWorker does (expiry requests its deletion).
        alive = DebugWorker.objects.filter(name=subject, deletion_requested_at__isnull=True).exists()
        return (DEBUG_WORKER, "") if alive else None
    # An operator's admin or manager token (a manager token names no Manager until one is applied).
    return identity, ""


# --- what a principal sees ---------------------------------------------------------------
def visible(principal: Principal, queryset: QuerySet[_M]) -> QuerySet[_M]:
    """``queryset`` narrowed to what ``principal`` may see. Every list goes through here."""
    if principal.identity in ALL_POWERFUL:
        return queryset
    model = queryset.model
    teams = principal.managed_teams
    if model is Worker:
        if teams:
            return queryset.filter(team__name__in=teams)
        if principal.identity == WORKER:
            return queryset.filter(name=principal.name)
    elif model is Team and teams:
        return queryset.filter(name__in=teams)
    elif model is DebugWorker and teams:
        return queryset.filter(team_name__in=teams)
    elif model is Human and teams:
        return queryset.filter(name__in=_humans_of(teams))
    elif model is Upgrade:
        if teams:
            return queryset.filter(team__in=teams)
        if principal.identity == WORKER:
            return queryset.filter(targets__worker=principal.name).distinct()
    return queryset.none()


def _humans_of(teams: frozenset[str]) -> list[str]:
    """Humans with access to any of ``teams`` (by team, or by one of its workers): read-only for
    the teams' leaders and admins. Humans are few; their access lists are JSON, matched here."""
    members = set(Worker.objects.filter(team__name__in=teams).values_list("name", flat=True))
    return [
        name
        for name, spec in Human.objects.values_list("name", "spec")
        if teams & set(spec.get("accessibleTeams") or []) or members & set(spec.get("accessibleWorkers") or [])
    ]


def can_see(principal: Principal, resource: Resource) -> bool:
    return visible(principal, type(resource).objects.filter(pk=resource.pk)).exists()


# --- what a principal may do --------------------------------------------------------------
def authorize(principal: Principal, action: str, kind: str, name: str, *, team: str = "") -> None:
    """Raise unless ``principal`` may do ``action`` on ``kind``/``name``.

    ``team`` is the team the target belongs to (or will belong to), "" for
    standalone resources. Out of scope is ``NotFound``, as if the target did
    not exist; a refusal about a target in scope, or about creating one, is
    ``Denied`` and names only the caller and its own scope.
    """
    if principal.identity in ALL_POWERFUL:
        return
    who = f"{principal.identity} {principal.name}"
    if principal.identity == WORKER:
        _authorize_worker(principal, who, action, kind, name)
    elif principal.identity in TEAM_SCOPED:
        _authorize_team_scoped(principal, who, action, kind, name, team)
    else:
        raise Denied(f"{who} has no role: ask an admin to link your login to a Human or a team")


def _authorize_worker(principal: Principal, who: str, action: str, kind: str, name: str) -> None:
    if kind == "Worker" and name == principal.name:
        if action in (VIEW, LIFECYCLE):
            return
        raise Denied(f"{who} may only read itself and change its run state; it may not {action} worker/{name}")
    if action == CREATE:
        raise Denied(f"{who} may only act on itself (worker/{principal.name}); it may not create {kind.lower()}s")
    raise NotFound(kind, name)


def _authorize_team_scoped(principal: Principal, who: str, action: str, kind: str, name: str, team: str) -> None:
    teams = principal.managed_teams
    scope = ", ".join(sorted(teams))
    if kind in ("Worker", "DebugWorker"):
        if team in teams:
            return
        if action != CREATE:
            raise NotFound(kind, name)
        if team:
            raise NotFound("Team", team, "team")
        raise Denied(f"{who} may only create {kind.lower()}s in team {scope}, not standalone ones")
    if kind == "Team" and name in teams:
        if action == VIEW:
            return
        raise Denied(f"{who} may not change team/{name}'s spec; an admin or the manager does")
    if kind == "Team" and action != CREATE:
        raise NotFound(kind, name)
    # Reached for creates, and for Humans and Managers the caller was shown (read-only).
    raise Denied(f"{who} may not {action} {kind.lower()}/{name}; an admin or the manager does")


def authorize_apply(principal: Principal) -> None:
    """Raise ``Denied`` unless ``principal`` may apply manifests at all.

    Asked before a manifest is read, so a caller who could change nothing
    cannot make the controller parse and validate a large document either.
    """
    if principal.identity in ALL_POWERFUL or principal.identity in TEAM_SCOPED:
        return
    who = f"{principal.identity} {principal.name}"
    raise Denied(f"{who} may not apply manifests; a team leader, team admin, admin or the manager can")


def check_member_quota(principal: Principal, team: Team, *, adding: bool, model: str, old_model: str = "") -> None:
    """A leader (or team admin) changing members is held to the team's permissions.

    Admins and the manager are held to ``maxWorkers`` and ``allowedModels`` by
    the Team spec's own validation; ``canScaleWorkers`` and ``canSwitchModel``
    bind delegated identities only.
    """
    if principal.identity in ALL_POWERFUL:
        return
    permissions = team.typed_spec.leader.permissions or Permissions()
    who = f"{principal.identity} {principal.name}"
    if adding and permissions.can_scale_workers is False:
        raise Denied(
            f"Team {team.name} does not let {who} add workers (permissions.canScaleWorkers false); an admin can"
        )
    if not adding and model != old_model and permissions.can_switch_model is False:
        raise Denied(
            f"Team {team.name} does not let {who} change a model (permissions.canSwitchModel false); an admin can"
        )
    allowed = permissions.allowed_models
    if allowed and model not in allowed:
        listed = ", ".join(allowed)
        raise QuotaExceeded(f"{model} is not allowed for team {team.name}; allowed models: {listed}", "model")
    maximum = permissions.max_workers
    used = len(team.typed_spec.workers)
    if adding and maximum is not None and used >= maximum:
        raise QuotaExceeded(
            f"Team {team.name} has {used} workers, the most its permissions allow (used {used}/max {maximum}); "
            "remove one or ask an admin to raise maxWorkers"
        )


def team_of(resource: Resource) -> str:
    """The team a resource belongs to, for ``authorize``."""
    if isinstance(resource, Worker | DebugWorker):
        return resource.team_name
    if isinstance(resource, Team):
        return resource.name
    return ""
