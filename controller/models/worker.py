"""The Worker: one AI agent, standalone or a member (leader or worker) of a Team."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from controller import naming
from controller.models.agent import AgentResource
from controller.models.heartbeat import AgentState
from controller.models.runtime_version import older_than

if TYPE_CHECKING:
    from controller.manifests.schema import WorkerSpec


class MemberRole(models.TextChoices):
    STANDALONE = "", "standalone"
    TEAM_LEADER = "team_leader", "team leader"
    WORKER = "worker", "worker"


# What a heartbeat changes on a Worker row.
HEARTBEAT_FIELDS = [
    "last_heartbeat",
    "heartbeat_missed_since",
    "idle_since",
    "active_tasks",
    "runtime_version",
    "skills_version",
]


class Worker(AgentResource):
    kind = "Worker"

    # Set for team members only. A member's spec is derived from its Team's
    # spec, so the Team row owns it; PROTECT keeps a Team from vanishing
    # underneath members whose instances still need cleaning up.
    team = models.ForeignKey("controller.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="members")
    role = models.CharField(max_length=16, choices=MemberRole.choices, blank=True, default=MemberRole.STANDALONE)

    idle_since = models.DateTimeField(null=True, blank=True)
    skills_version = models.CharField(max_length=64, blank=True)
    running_image = models.CharField(max_length=500, blank=True, help_text="image of the running instance")
    # The backend name of the worker's current instance; "" means the default one
    # (naming.instance_name). A rollout starts the new instance beside the old one under a
    # name of its own and moves this column to it at cutover (docs/rollouts.md).
    instance_name = models.CharField(max_length=128, blank=True, editable=False)
    exposed_ports = models.JSONField(default=list, blank=True)
    runtime_version = models.CharField(max_length=64, blank=True)
    # What the last config/skills push copied into the workspace (``skills_version`` is what the
    # worker reports it has loaded; the two differ until it picks the push up).
    pushed_skills_version = models.CharField(max_length=64, blank=True, editable=False)
    # Set by the sweeper when heartbeats stop (the Healthy condition), cleared by the
    # next heartbeat; a column of its own so it never races the reconciler's writes.
    heartbeat_missed_since = models.DateTimeField(null=True, blank=True)
    active_tasks = models.PositiveIntegerField(default=0)

    heartbeat_fields = HEARTBEAT_FIELDS
    if TYPE_CHECKING:

        @property
        def typed_spec(self) -> WorkerSpec: ...

    class Meta(AgentResource.Meta):
        indexes = [models.Index(fields=["team", "role"])]

    def take_report(self, state: str, active_tasks: int, runtime_version: str, skills_version: str, now) -> None:
        """``idle_since`` starts at the first idle report with no active task and is cleared by
        any busy report, so the idle timer survives restarts. A heartbeat also clears a
        missed-heartbeat mark (the Healthy condition)."""
        idle = state == AgentState.IDLE and active_tasks == 0
        self.idle_since = (self.idle_since or now) if idle else None
        self.heartbeat_missed_since = None
        self.active_tasks = active_tasks
        self.runtime_version = runtime_version or self.runtime_version
        self.skills_version = skills_version or self.skills_version

    @property
    def current_instance(self) -> str:
        """The backend name of the instance that serves this worker now."""
        return self.instance_name or naming.instance_name("worker", self.name)

    @property
    def team_name(self) -> str:
        """The name of the worker's team; "" for a standalone worker."""
        return self.team.name if self.team is not None else ""

    @property
    def healthy(self) -> bool:
        return self.heartbeat_missed_since is None

    def status_manifest(self) -> dict[str, Any]:
        status = super().status_manifest()
        if self.heartbeat_missed_since is not None:
            since = self.heartbeat_missed_since.isoformat()
            health = {"status": "False", "reason": "HeartbeatMissed", "message": f"no heartbeat since {since}"}
            status["conditions"] = [*status["conditions"], {"type": "Healthy", **health, "lastTransitionTime": since}]
        elif self.last_heartbeat is not None:
            health = {"status": "True", "reason": "HeartbeatReceived", "message": ""}
            moment = self.last_heartbeat.isoformat()
            status["conditions"] = [*status["conditions"], {"type": "Healthy", **health, "lastTransitionTime": moment}]
        upgrade = self.upgrade_required()
        if upgrade is not None:
            # Judged on the last report: the time of that report is when it last could change.
            reported = self.last_heartbeat.isoformat() if self.last_heartbeat else ""
            condition = {"type": "UpgradeRequired", **upgrade, "lastTransitionTime": reported}
            status["conditions"] = [*status["conditions"], condition]
        return status

    def upgrade_required(self) -> dict[str, str] | None:
        """The UpgradeRequired condition (status, reason, message), or None when there is
        nothing to compare: no ``HICLAW_MIN_RUNTIME_VERSION``, or no version reported yet.

        Worked out from the last reported ``runtime_version`` whenever it is read, rather
        than stored, so both heartbeat paths (the API view and the Redis buffer's flush)
        set and clear it through the one column they already write, and it never races
        the reconciler's writes of ``conditions``.
        """
        minimum = settings.HICLAW_MIN_RUNTIME_VERSION
        if not minimum or not self.runtime_version:
            return None
        older = older_than(self.runtime_version, minimum)
        if older is None:
            return {
                "status": "Unknown",
                "reason": "Unparseable",
                "message": f"reports {self.runtime_version}, minimum {minimum}: not comparable",
            }
        if older:
            return {
                "status": "True",
                "reason": "TooOld",
                "message": f"reports {self.runtime_version}, minimum {minimum}",
            }
        return {
            "status": "False",
            "reason": "UpToDate",
            "message": f"reports {self.runtime_version}, minimum {minimum}",
        }

    def kind_status(self) -> dict[str, Any]:
        return {
            **super().kind_status(),
            "idleSince": self.idle_since.isoformat() if self.idle_since else None,
            "skillsVersion": self.skills_version,
            "image": self.running_image,
            "exposedPorts": self.exposed_ports,
        }
