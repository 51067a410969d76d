"""The Worker reconciler: a standalone worker, a team's leader or one of its workers.

Room topology: a team worker's room holds its leader and the team
admin; the leader's room and a standalone worker's room hold the Manager
(when there is one). The controller's own Matrix account creates every room.
A leader's AGENTS.md carries the generated team context; every member's
channel policy follows its team.
"""

from __future__ import annotations

from django.conf import settings

from controller.models import Identity, Manager, MemberRole, Worker
from controller.reconcilers.agent import COORDINATOR_POWER, STATUS_FIELDS, AgentReconciler
from controller.reconcilers.agent_files import AgentWiring, agent_files
from controller.reconcilers.team_context import channel_policy, leader_agents_md, team_admin_id
from controller.services import live

RUNTIME_IMAGES = {
    "openclaw": "HICLAW_WORKER_IMAGE",
    "copaw": "HICLAW_COPAW_WORKER_IMAGE",
    "hermes": "HICLAW_HERMES_WORKER_IMAGE",
}


class WorkerReconciler(AgentReconciler[Worker]):
    kind = "worker"
    status_fields = [*STATUS_FIELDS, "running_image"]

    def room_members(self, worker: Worker, user_id: str) -> dict[str, int]:
        wanted = {user_id: 0}
        team = worker.team if worker.team_id else None
        if team is not None and worker.role == MemberRole.WORKER:
            wanted[self.ensure_account("worker", team.typed_spec.leader.name)] = COORDINATOR_POWER
            if team_admin_id(team):
                wanted[team_admin_id(team)] = COORDINATOR_POWER
        else:
            manager = Manager.current()
            if manager is not None:
                wanted[self.ensure_account("manager", manager.name)] = COORDINATOR_POWER
        return wanted

    def files(self, worker: Worker, wiring: AgentWiring) -> dict[str, bytes]:
        team = worker.team if worker.team_id else None
        agents_md = None
        if team is not None and worker.role == MemberRole.TEAM_LEADER:
            agents_md = leader_agents_md(worker.typed_spec.agents or "", team)
        return agent_files(
            worker.name,
            worker.typed_spec,
            wiring,
            team=team.name if team else "",
            agents_md=agents_md,
            channel_policy=channel_policy(worker, team),
        )

    def identity(self, worker: Worker) -> tuple[str, str]:
        team = worker.team_name
        return (Identity.TEAM_LEADER if worker.role == MemberRole.TEAM_LEADER else Identity.WORKER), team

    def default_image(self, worker: Worker) -> str:
        return getattr(settings, RUNTIME_IMAGES[worker.runtime])

    def phase_changed(self, worker: Worker) -> None:
        # The team's phase and readiness summarise its members'.
        if worker.team is not None:
            self.connections.enqueue("Team", worker.team.name)

    def announce(self, worker: Worker) -> None:
        live.worker_changed(worker.name, worker.team_name)

    def record_instance(self, worker: Worker, status) -> None:
        worker.running_image = status.image
