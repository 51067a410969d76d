"""The Manager: the optional coordinating agent of the whole deployment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

from controller.models.agent import AgentResource
from controller.models.heartbeat import Heartbeat

if TYPE_CHECKING:
    from controller.manifests.schema import ManagerSpec

# What a heartbeat changes on a Manager row.
MANAGER_HEARTBEAT_FIELDS = ["last_heartbeat", "version"]


class Manager(AgentResource):
    kind = "Manager"

    version = models.CharField(max_length=64, blank=True, help_text="runtime version last reported")

    if TYPE_CHECKING:

        @property
        def typed_spec(self) -> ManagerSpec: ...

    class Meta(AgentResource.Meta):
        pass

    def apply_heartbeat(
        self,
        state: str,
        *,
        active_tasks: int = 0,
        runtime_version: str = "",
        skills_version: str = "",
        note: str = "",
        now=None,
    ) -> Heartbeat:
        """Take a report into this row (in memory) and return its unsaved history entry;
        callers save ``MANAGER_HEARTBEAT_FIELDS``."""
        now = now or timezone.now()
        self.last_heartbeat = now
        self.version = runtime_version or self.version
        return Heartbeat(
            manager=self,
            received_at=now,
            state=state,
            active_tasks=active_tasks,
            runtime_version=runtime_version,
            skills_version=skills_version,
            note=note,
        )

    def record_heartbeat(self, state: str, **report) -> Heartbeat:
        """Apply one report and save it with its history entry."""
        heartbeat = self.apply_heartbeat(state, **report)
        self.save(update_fields=MANAGER_HEARTBEAT_FIELDS)
        heartbeat.save()
        return heartbeat

    def kind_status(self) -> dict[str, Any]:
        return {**super().kind_status(), "version": self.version}
