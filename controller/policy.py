"""The one authorization policy (DESIGN §7): who may see and do what.

REST views, dashboard views, WebSocket consumers and the CLI path all ask
here. ``visible(principal, queryset)`` filters every list; ``authorize``
raises ``Denied`` (403, naming the rule) or ``QuotaExceeded`` (422, with the
numbers) for an action on a resource.

Identities: ``admin`` and ``manager`` may do anything. A ``team-leader``
acts on its own team's workers and DebugWorkers; a ``team-admin`` (a person
logged in to the dashboard) has the same reach over the teams they
administer. A ``worker`` acts only on itself. ``none`` (a login with no role)
sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from controller.models import TEAM_ANNOTATION, DebugWorker, Human, PermissionLevel, Resource, Team, Worker

ADMIN, MANAGER, TEAM_LEADER, TEAM_ADMIN, WORKER, NOBODY = (
    "admin",
    "manager",
    "team-leader",
    "team-admin",
    "worker",
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


class Denied(Exception):
    """403: the rule that refused, in words."""


class QuotaExceeded(Exception):
    """422: a team permission's limit, with the numbers."""


class TargetsDisagree(Exception):
    """422: a DebugWorker's team annotation, ``spec.target`` and ``spec.targets`` disagree."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


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
        teams |= set(human.spec.get("accessibleTeams") or [])
    if teams:
        return Principal(TEAM_ADMIN, user.get_username(), teams=frozenset(teams))
    return Principal(NOBODY, user.get_username())


# --- what a principal sees ---------------------------------------------------------------
def visible(principal: Principal, queryset: QuerySet) -> QuerySet:
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
    """Raise ``Denied`` unless ``principal`` may do ``action`` on ``kind``/``name``.

    ``team`` is the team the target belongs to (or will belong to), "" for
    standalone resources.
    """
    if principal.identity in ALL_POWERFUL:
        return
    who = f"{principal.identity} {principal.name}"
    if principal.identity == WORKER:
        if kind == "Worker" and name == principal.name and action in (VIEW, LIFECYCLE):
            return
        raise Denied(f"{who} may only act on itself (worker/{principal.name}), not {kind.lower()}/{name}")
    if principal.identity in TEAM_SCOPED:
        teams = principal.managed_teams
        if kind in ("Worker", "DebugWorker") and team in teams:
            return
        if kind == "Team" and name in teams and action == VIEW:
            return
        if kind == "Team" and name in teams:
            raise Denied(f"{who} may not change team/{name}'s spec; an admin or the manager does")
        scope = ", ".join(sorted(teams))
        target = f"{kind.lower()}/{name}" + (f" (team {team})" if team else " (no team)")
        raise Denied(f"{who} may only act on team {scope}; {target} is outside it")
    raise Denied(f"{who} has no role: ask an admin to link your login to a Human or a team")


def authorize_apply(principal: Principal) -> None:
    """Raise ``Denied`` unless ``principal`` may apply manifests at all.

    Asked before a manifest is read, so a caller who could change nothing
    cannot make the controller parse and validate a large document either.
    """
    if principal.identity in ALL_POWERFUL or principal.identity in TEAM_SCOPED:
        return
    who = f"{principal.identity} {principal.name}"
    raise Denied(f"{who} may not apply manifests; a team leader, team admin, admin or the manager can")


# --- DebugWorkers: what they mirror --------------------------------------------------------
@dataclass(frozen=True)
class DebugScope:
    """What a DebugWorker spec reaches: the team it debugs ("" for none) and the workers it
    names, each with the manifest field naming it."""

    team: str
    team_field: str
    workers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, spec: dict[str, Any], annotations: dict[str, str]) -> DebugScope:
        target = spec.get("target") or {}
        named = [(f"spec.targets[{index}]", name) for index, name in enumerate(spec.get("targets") or [])]
        if target.get("type") == "worker":
            named.append(("spec.target.name", target["name"]))
        if target.get("type") == "team":
            return cls(target["name"], "spec.target.name", tuple(named))
        return cls(annotations.get(TEAM_ANNOTATION, ""), f"metadata.annotations.{TEAM_ANNOTATION}", tuple(named))


def check_debug_targets(spec: dict[str, Any], annotations: dict[str, str]) -> None:
    """Raise ``TargetsDisagree`` unless the team a DebugWorker debugs and the workers it names
    agree: the team annotation names the team of a team target, and every named worker is a
    member of that team. Without a team (admins only) it may name any workers."""
    scope = DebugScope.of(spec, annotations)
    annotated = annotations.get(TEAM_ANNOTATION, "")
    if annotated and annotated != scope.team:
        raise TargetsDisagree(
            f"metadata.annotations.{TEAM_ANNOTATION}",
            f"names team {annotated} but spec.target names team {scope.team}; they must be the same",
        )
    if not scope.team:
        return
    teams = dict(Worker.objects.filter(name__in=[name for _, name in scope.workers]).values_list("name", "team__name"))
    for path, name in scope.workers:
        if teams.get(name) != scope.team:
            raise TargetsDisagree(
                path, f"worker/{name} is not a member of team/{scope.team}, the team this DebugWorker debugs"
            )


def authorize_debug_targets(principal: Principal, spec: dict[str, Any], annotations: dict[str, str]) -> None:
    """Raise ``Denied`` unless everything a DebugWorker spec would mirror is within the caller's
    reach: a team-scoped caller names one of its own teams and only workers it may see.

    Asked for every new or changed DebugWorker on every path, as well as ``authorize`` (which
    checks the stored row's team): re-pointing an existing DebugWorker is a new reach.
    An unknown worker is refused like another team's, so the answer tells nothing of it.
    """
    if principal.identity in ALL_POWERFUL:
        return
    scope = DebugScope.of(spec, annotations)
    who, teams = f"{principal.identity} {principal.name}", principal.managed_teams
    reach = ", ".join(sorted(teams)) or "no team"
    if scope.team not in teams:
        debugged = f"team/{scope.team}" if scope.team else "no team"
        raise Denied(f"{who} may only debug team {reach}; this DebugWorker debugs {debugged} ({scope.team_field})")
    names = [name for _, name in scope.workers]
    seen = set(visible(principal, Worker.objects.filter(name__in=names)).values_list("name", flat=True))
    for path, name in scope.workers:
        if name not in seen:
            raise Denied(f"{who} may only debug workers of team {reach}; worker/{name} ({path}) is outside it")


def check_member_quota(principal: Principal, team: Team, *, adding: bool, model: str, old_model: str = "") -> None:
    """A leader (or team admin) changing members is held to the team's permissions.

    Admins and the manager are held to ``maxWorkers`` and ``allowedModels`` by
    the Team spec's own validation; ``canScaleWorkers`` and ``canSwitchModel``
    bind delegated identities only.
    """
    if principal.identity in ALL_POWERFUL:
        return
    permissions = team.spec["leader"].get("permissions") or {}
    who = f"{principal.identity} {principal.name}"
    if adding and permissions.get("canScaleWorkers") is False:
        raise Denied(f"{who} may not add workers: team/{team.name} has permissions.canScaleWorkers false")
    if not adding and model != old_model and permissions.get("canSwitchModel") is False:
        raise Denied(f"{who} may not change a model: team/{team.name} has permissions.canSwitchModel false")
    allowed = permissions.get("allowedModels")
    if allowed and model not in allowed:
        listed = ", ".join(allowed)
        raise QuotaExceeded(f"model {model!r} is not in team/{team.name} permissions.allowedModels ({listed})")
    maximum = permissions.get("maxWorkers")
    used = len(team.spec.get("workers", []))
    if adding and maximum is not None and used >= maximum:
        raise QuotaExceeded(
            f"team/{team.name} has {used} workers, permissions.maxWorkers is {maximum} (used {used}/max {maximum})"
        )


def team_of(resource: Resource) -> str:
    """The team a resource belongs to, for ``authorize``."""
    if isinstance(resource, Worker):
        return resource.team.name if resource.team_id else ""
    if isinstance(resource, DebugWorker):
        return resource.team_name
    if isinstance(resource, Team):
        return resource.name
    return ""


__all__ = [
    "ADMIN",
    "CREATE",
    "DELETE",
    "LIFECYCLE",
    "MANAGER",
    "NOBODY",
    "TEAM_ADMIN",
    "TEAM_LEADER",
    "UPDATE",
    "VIEW",
    "WORKER",
    "Denied",
    "Principal",
    "QuotaExceeded",
    "TargetsDisagree",
    "authorize",
    "authorize_apply",
    "authorize_debug_targets",
    "can_see",
    "check_debug_targets",
    "check_member_quota",
    "principal_for_user",
    "team_of",
    "visible",
]
