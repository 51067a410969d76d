"""The spec of a new DebugWorker, as an agent (API) or a dashboard user asks for one.

A team leader's DebugWorker targets its own team and gets the leader's Matrix
credential (to export the team's room messages) filled in by the controller;
a team admin's targets one of the teams it administers; an admin or the
manager gives target and credential, and what it names must exist; a worker
is refused.
"""

from __future__ import annotations

from typing import Any

from controller import policy
from controller.errors import DomainError
from controller.models import TEAM_ANNOTATION, Team, Worker

# Request fields copied into the spec as they are (``allowedUsers`` becomes ``accessControl``).
SPEC_FIELDS = ("target", "targets", "matrixCredential", "retention", "hiclawVersion")


class InvalidDebugRequest(DomainError):
    """400: a field of the request is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def debugworker_spec(principal: policy.Principal, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The spec and annotations of a new DebugWorker asked for by ``principal``."""
    if principal.identity == policy.WORKER:
        raise policy.Denied(f"worker {principal.name} may not create DebugWorkers; its team leader or an admin can")
    spec: dict[str, Any] = {}
    for key in SPEC_FIELDS:
        if key in body:
            spec[key] = body[key]
    if "allowedUsers" in body:
        spec["accessControl"] = {"allowedUsers": body["allowedUsers"]}
    team = body.get("team") or ""
    if not isinstance(team, str):
        raise InvalidDebugRequest("team", "must be a team name")
    if principal.identity in policy.TEAM_SCOPED:
        team = team or (principal.team if principal.identity == policy.TEAM_LEADER else "")
        if not team:
            raise InvalidDebugRequest("team", "required: which of your teams to debug")
        if team not in principal.managed_teams:
            raise policy.NotFound("Team", team, "team")  # another team's is answered as a missing one
        spec.pop("targets", None)
        spec["target"] = {"type": "team", "name": team}
        leader = Worker.objects.filter(team__name=team, role="team_leader").first()
        if principal.identity == policy.TEAM_LEADER and leader is not None and leader.matrix_user_id:
            spec["matrixCredential"] = {"userID": leader.matrix_user_id, "accessToken": leader.matrix_access_token}
    else:
        if team and "target" not in spec and "targets" not in spec:
            spec["target"] = {"type": "team", "name": team}
        _targets_exist(team, spec)
    return spec, ({TEAM_ANNOTATION: team} if team else {})


def _targets_exist(team: str, spec: dict[str, Any]) -> None:
    """What an admin's or the manager's request names must exist (404 naming the field);
    the spec's shape is the manifest schema's to check."""
    if team and not Team.objects.filter(name=team, deletion_requested_at__isnull=True).exists():
        raise policy.NotFound("Team", team, "team")
    target = spec.get("target")
    if isinstance(target, dict) and target.get("type") in ("team", "worker") and isinstance(target.get("name"), str):
        model = Team if target["type"] == "team" else Worker
        if not model.objects.filter(name=target["name"], deletion_requested_at__isnull=True).exists():
            raise policy.NotFound(model.kind, target["name"], "target.name")
    names = spec.get("targets")
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        found = set(
            Worker.objects.filter(name__in=names, deletion_requested_at__isnull=True).values_list("name", flat=True)
        )
        missing = [name for name in names if name not in found]
        if missing:
            raise policy.NotFound("Worker", missing[0], "targets")
