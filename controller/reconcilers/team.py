"""The Team reconciler: rooms, the default DebugWorker, team status.

Members are Worker rows the Team owns (kept in step with the spec when it is
applied) and are reconciled as Workers; this pass adds what belongs to the
team as a whole: the team room (leader, team admin and workers — never the
Manager), the leader DM (team admin and leader), the default DebugWorker when
``debug.enabled``, and the team's phase from its members' phases.
"""

from __future__ import annotations

import logging

from django.db import transaction

from controller import naming
from controller.clients.matrix import MatrixError, MatrixSession
from controller.connections import Connections
from controller.manifests import ManifestInvalid, parse_objects
from controller.models import API_VERSION, TEAM_ANNOTATION, AgentPhase, DebugWorker, MemberRole, Team, TeamPhase
from controller.reconcilers import base
from controller.reconcilers.base import Result, TemporaryError, mark_failed, mark_settled, retry_failed
from controller.reconcilers.human import queue_humans
from controller.reconcilers.rooms import converge_room, ensure_account, matrix_errors
from controller.reconcilers.team_context import team_admin_id, team_admin_name
from controller.services import events, live
from controller.services.apply import apply_documents
from controller.services.lifecycle import request_deletion

logger = logging.getLogger(__name__)

LEADER_POWER = ADMIN_POWER = 100
OWNER_LABEL = "hiclaw.io/owner"
STATUS_FIELDS = [*base.STATUS_FIELDS, "team_room_id", "leader_dm_room_id"]
SETTLED = {AgentPhase.RUNNING, AgentPhase.SLEEPING, AgentPhase.STOPPED}


class TeamReconciler:
    def __init__(self, connections: Connections):
        self.connections = connections

    def reconcile(self, team: Team) -> Result:
        if team.deletion_requested_at is not None:
            return self.delete(team)
        members = list(team.members.filter(deletion_requested_at__isnull=True))
        try:
            self.ensure_rooms(team, members)
            self.ensure_debugworker(team)
        except TemporaryError as error:
            result = mark_failed(team, error.condition, error.reason, error.message, team.phase)
            self.save(team)
            return result
        before = team.phase
        mark_settled(team, team_phase(members))
        self.save(team)
        if team.phase != before:
            events.record_phase("Team", team.name, before, team.phase, team=team.name)
        live.team_changed(team.name)
        return Result()

    def ensure_rooms(self, team: Team, members: list) -> None:
        matrix = self.connections.matrix
        if matrix is None:
            team.set_condition("MatrixReady", "False", "Disabled", "HICLAW_MATRIX_URL is not set")
            return
        leader_name = team.typed_spec.leader.name
        admin_id = team_admin_id(team)
        with matrix_errors():
            admin = self.connections.matrix_admin()
            sessions = {
                m.matrix_user_id: MatrixSession(m.matrix_user_id, m.matrix_access_token)
                for m in members
                if m.matrix_user_id and m.matrix_access_token
            }
            leader_id = self._account(leader_name)
            wanted = {leader_id: LEADER_POWER, **({admin_id: ADMIN_POWER} if admin_id else {})}
            for member in members:
                if member.role == MemberRole.WORKER:
                    wanted.setdefault(self._account(member.name), 0)
            room_before = team.team_room_id
            team.team_room_id = converge_room(
                matrix,
                admin,
                alias=f"{naming.prefix()}team-{team.name}",
                title=f"Team: {team.name}",
                wanted=wanted,
                sessions=sessions,
                room_id=team.team_room_id,
            )
            if admin_id:
                team.leader_dm_room_id = converge_room(
                    matrix,
                    admin,
                    alias=f"{naming.prefix()}team-{team.name}-leader-dm",
                    title=f"{team.name}: admin and leader",
                    wanted={leader_id: LEADER_POWER, admin_id: ADMIN_POWER},
                    sessions=sessions,
                    direct=True,
                    room_id=team.leader_dm_room_id,
                )
            if team.team_room_id != room_before:
                self.save(team)
                queue_humans(self.connections)
        team.set_condition("MatrixReady", "True", "Ready", f"team room {team.team_room_id}")
        self.save(team)

    def ensure_debugworker(self, team: Team) -> None:
        """The team's default DebugWorker exists exactly while ``debug.enabled``."""
        name = default_debugworker_name(team.name)
        existing = DebugWorker.objects.filter(name=name).first()
        debug = team.typed_spec.debug
        if not debug.enabled:
            if existing is not None and existing.labels.get(OWNER_LABEL) == team.name:
                request_deletion(existing)
            team.set_condition("DebugReady", "False", "Disabled", "spec.debug.enabled is false")
            return
        if existing is not None and existing.labels.get(OWNER_LABEL) != team.name:
            team.set_condition("DebugReady", "False", "NameTaken", f"debugworker/{name} is not this team's")
            return
        if existing is not None and existing.deletion_requested_at is not None:
            # Expired (or removed): its deletion queues this team again, which then makes a new one.
            team.set_condition("DebugReady", "False", "Renewing", f"debugworker/{name} is being deleted")
            return
        allowed = (debug.access_control.allowed_users if debug.access_control else None) or [team_admin_name(team)]
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "DebugWorker",
            "metadata": {
                "name": name,
                "labels": {OWNER_LABEL: team.name},
                "annotations": {TEAM_ANNOTATION: team.name},
            },
            "spec": {
                "target": {"type": "team", "name": team.name},
                "accessControl": {"allowedUsers": [user for user in allowed if user]},
                # Unset, the DebugWorker's own default retention applies (docs/debugworkers.md).
                **({"retention": debug.retention} if debug.retention else {}),
            },
        }
        try:
            with transaction.atomic():
                apply_documents(parse_objects([manifest]))
        except ManifestInvalid as invalid:
            team.set_condition("DebugReady", "False", "Invalid", str(invalid.errors[0]))
            return
        team.set_condition("DebugReady", "True", "Ready", f"debugworker/{name}")

    def delete(self, team: Team) -> Result:
        if team.members.exists():
            return Result(requeue_after=2)  # members (and their instances) go first
        if self.connections.matrix is not None and team.team_room_id:
            try:
                admin = self.connections.matrix_admin()
                for room_id in filter(None, (team.team_room_id, team.leader_dm_room_id)):
                    for user, membership in self.connections.matrix.room_members(admin, room_id).items():
                        if membership in ("join", "invite") and user != admin.user_id:
                            self.connections.matrix.kick(admin, room_id, user, reason="team deleted")
            except MatrixError as error:
                team.failures += 1
                team.message = f"deletion waits: {error}"
                self.save(team)
                return retry_failed(team.failures)
        # JSON "contains" lookups do not exist on SQLite (embedded mode): match the owner here.
        for debugworker in DebugWorker.objects.filter(team_name=team.name, deletion_requested_at__isnull=True):
            if debugworker.labels.get(OWNER_LABEL) == team.name:
                request_deletion(debugworker)
        team.delete()
        logger.info("team/%s: deleted", team.name)
        return Result()

    def _account(self, worker_name: str) -> str:
        return ensure_account(self.connections, "worker", worker_name)

    @staticmethod
    def save(team: Team) -> None:
        team.save(update_fields=STATUS_FIELDS)


def default_debugworker_name(team: str) -> str:
    return f"{team[:57]}-debug"


def team_phase(members: list) -> str:
    """Active when every member has settled into its desired state, Degraded when the
    leader has but a worker has not, Failed when the leader failed, Updating while a
    rollout replaces members (docs/rollouts.md), else Pending."""
    if any(m.phase == AgentPhase.UPDATING for m in members):
        return TeamPhase.UPDATING
    leader = next((m for m in members if m.role == MemberRole.TEAM_LEADER), None)
    if leader is None or leader.phase not in SETTLED:
        return TeamPhase.FAILED if leader is not None and leader.phase == AgentPhase.FAILED else TeamPhase.PENDING
    workers = [m for m in members if m.role == MemberRole.WORKER]
    return TeamPhase.ACTIVE if all(w.phase in SETTLED for w in workers) else TeamPhase.DEGRADED
