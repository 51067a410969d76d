"""The Manager reconciler: the optional coordinating agent, with its own room with the admin.

Same steps as a Worker (controller/reconcilers/agent.py); its ``config`` (heartbeat interval, idle
timeout, notify channel) is written into its agent config.
"""

from __future__ import annotations

from django.conf import settings

from controller.models import Identity, Manager
from controller.reconcilers.agent import STATUS_FIELDS, AgentReconciler
from controller.reconcilers.agent_files import AgentWiring, agent_files


class ManagerReconciler(AgentReconciler[Manager]):
    kind = "manager"
    status_fields = STATUS_FIELDS

    def room_members(self, manager: Manager, user_id: str) -> dict[str, int]:
        # The controller's admin account creates the room and so is in it.
        return {user_id: 0}

    def files(self, manager: Manager, wiring: AgentWiring) -> dict[str, bytes]:
        spec = manager.typed_spec
        return agent_files(manager.name, spec, wiring, extra={"manager": spec.config.manifest()})

    def identity(self, manager: Manager) -> tuple[str, str]:
        return Identity.MANAGER, ""

    def default_image(self, manager: Manager) -> str:
        return settings.HICLAW_MANAGER_IMAGE
