"""The Manager: the optional coordinating agent of the whole deployment."""

from __future__ import annotations

from typing import Any

from django.db import models

from controller.models.agent import AgentResource


class Manager(AgentResource):
    kind = "Manager"

    version = models.CharField(max_length=64, blank=True, help_text="runtime version last reported")

    class Meta(AgentResource.Meta):
        pass

    def kind_status(self) -> dict[str, Any]:
        return {**super().kind_status(), "version": self.version}
