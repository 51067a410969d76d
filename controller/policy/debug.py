"""DebugWorkers in the policy: what one may mirror, and who may use one.

A DebugWorker reaches other agents' workspaces and conversations, so both
sides are narrow. Creating or re-pointing one is held to the caller's teams
(``authorize_debug_targets``). Using one — its workspace browser, exports and
reports — is for the users its ``accessControl.allowedUsers`` names, admins
and the manager, and the leader of the team it debugs (``authorize_debug_use``);
anyone else is answered as if it did not exist. Its own instance holds a
``debug-worker`` token: it may read its targets' workspaces and run its own
exports and reports (which write only under ``debug/<name>/``), nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from controller.errors import UNPROCESSABLE, DomainError
from controller.models import TEAM_ANNOTATION, DebugWorker, Human, Worker
from controller.policy.core import (
    ALL_POWERFUL,
    DEBUG_WORKER,
    TEAM_LEADER,
    WORKER,
    Denied,
    NotFound,
    Principal,
    visible,
)


class TargetsDisagree(DomainError):
    """422: a DebugWorker's team annotation, ``spec.target`` and ``spec.targets`` disagree."""

    status = UNPROCESSABLE

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


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


def allowed_users(debugworker: DebugWorker) -> list[str]:
    """The logins its ``accessControl.allowedUsers`` names."""
    access = debugworker.typed_spec.access_control
    return list(access.allowed_users or []) if access is not None else []


def may_use(principal: Principal, debugworker: DebugWorker) -> bool:
    """Whether ``principal`` may browse a DebugWorker's workspaces and run its exports and reports.

    Admins and the manager may; the leader of the team it debugs may; its own instance
    (a ``debug-worker`` token) may run its own exports and reports; a dashboard login may
    when ``accessControl.allowedUsers`` names it — by login name, by the name of the
    Human linked to the login, or by that Human's Matrix ID.
    """
    if not principal.is_authenticated or debugworker.deletion_requested_at is not None:
        return False
    if principal.identity in ALL_POWERFUL:
        return True
    if principal.identity == TEAM_LEADER:
        return bool(debugworker.team_name) and debugworker.team_name == principal.team
    if principal.identity == DEBUG_WORKER:
        return principal.name == debugworker.name
    if principal.identity == WORKER:
        return False
    allowed = set(allowed_users(debugworker))
    return bool(allowed) and bool(login_names(principal.name) & allowed)


def login_names(username: str) -> set[str]:
    """The names a dashboard login goes by in ``allowedUsers``: itself, its Human, its Matrix ID."""
    names = {username}
    human = Human.objects.filter(user__username=username).values_list("name", "matrix_user_id").first()
    if human is not None:
        names |= {value for value in human if value}
    return names


def visible_or_usable(principal: Principal, queryset: QuerySet[DebugWorker]) -> QuerySet[DebugWorker]:
    """The DebugWorkers a login sees through its teams, and those whose allowedUsers names it
    (a login with no team role may still be the one a DebugWorker is for)."""
    seen = visible(principal, queryset)
    if principal.identity in ALL_POWERFUL or principal.identity in (WORKER, DEBUG_WORKER):
        return seen
    if not principal.is_authenticated:
        return seen
    names = login_names(principal.name)
    named = [
        pk
        for pk, spec in queryset.filter(deletion_requested_at__isnull=True).values_list("pk", "spec")
        if names & set((spec.get("accessControl") or {}).get("allowedUsers") or [])
    ]
    return queryset.filter(Q(pk__in=seen.values("pk")) | Q(pk__in=named))


def authorize_debug_use(principal: Principal, debugworker: DebugWorker) -> None:
    """Raise ``NotFound`` (as if it did not exist) unless ``principal`` may use ``debugworker``."""
    if not may_use(principal, debugworker):
        raise NotFound("DebugWorker", debugworker.name)
