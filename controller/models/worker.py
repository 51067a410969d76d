"""The Worker: one AI agent, standalone or a member (leader or worker) of a Team."""

from __future__ import annotations

from typing import Any

from django.db import models

from controller.models.agent import AgentResource


class MemberRole(models.TextChoices):
    STANDALONE = "", "standalone"
    TEAM_LEADER = "team_leader", "team leader"
    WORKER = "worker", "worker"


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
    exposed_ports = models.JSONField(default=list, blank=True)

    class Meta(AgentResource.Meta):
        indexes = [models.Index(fields=["team", "role"])]

    def kind_status(self) -> dict[str, Any]:
        return {
            **super().kind_status(),
            "idleSince": self.idle_since.isoformat() if self.idle_since else None,
            "skillsVersion": self.skills_version,
            "image": self.running_image,
            "exposedPorts": self.exposed_ports,
        }
