"""The Team: a leader and workers reconciled as Worker rows it owns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from controller.models.base import Resource

if TYPE_CHECKING:
    from controller.manifests.schema import TeamSpec


class TeamPhase(models.TextChoices):
    PENDING = "Pending"
    ACTIVE = "Active"
    DEGRADED = "Degraded"
    UPDATING = "Updating"
    FAILED = "Failed"


class Team(Resource):
    kind = "Team"

    image = models.CharField(max_length=500, blank=True, help_text="spec.image: default image of members")
    admin_name = models.CharField(max_length=150, blank=True, help_text="spec.admin.name")

    phase = models.CharField(max_length=16, choices=TeamPhase.choices, default=TeamPhase.PENDING, db_index=True)
    team_room_id = models.CharField(max_length=255, blank=True)
    leader_dm_room_id = models.CharField(max_length=255, blank=True)

    if TYPE_CHECKING:

        @property
        def typed_spec(self) -> TeamSpec: ...

    class Meta(Resource.Meta):
        pass

    @property
    def leader_room_id(self) -> str:
        """The leader's own room (Manager, global admin, leader), read off the leader's row."""
        leader = next((m for m in self.members.all() if m.role == "team_leader"), None)
        return leader.room_id if leader is not None else ""

    def index_spec(self) -> None:
        spec = self.typed_spec
        self.image = spec.image or ""
        self.admin_name = spec.admin.name if spec.admin else ""

    def kind_status(self) -> dict[str, Any]:
        # Member status is derived from the member rows (prefetch "members" when
        # listing teams) rather than copied, so it can never go stale.
        members = [m for m in self.members.all() if m.deletion_requested_at is None]
        ready = [m for m in members if m.phase == "Running"]
        return {
            "teamRoomID": self.team_room_id,
            "leaderRoomID": self.leader_room_id,
            "leaderDMRoomID": self.leader_dm_room_id,
            "leaderReady": any(m.role == "team_leader" for m in ready),
            "readyWorkers": sum(1 for m in ready if m.role == "worker"),
            "totalWorkers": sum(1 for m in members if m.role == "worker"),
            "members": [
                {
                    "name": m.name,
                    "role": m.role,
                    "ready": m in ready,
                    "roomID": m.room_id,
                    "matrixUserID": m.matrix_user_id,
                    "exposedPorts": m.exposed_ports,
                }
                for m in members
            ],
        }
