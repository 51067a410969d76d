"""The Worker reconciler: a standalone worker, a team's leader or one of its workers.

Room topology: a team worker's room holds its leader and the team
admin; the leader's room and a standalone worker's room hold the Manager
(when there is one). The controller's own Matrix account creates every room.
A leader's AGENTS.md carries the generated team context; every member's
channel policy follows its team.
"""

from __future__ import annotations

from django.conf import settings

from controller.backends.base import BackendError
from controller.models import AgentPhase, DesiredState, Identity, Manager, MemberRole, TargetState, Worker
from controller.reconcile_queue import enqueue_rollout
from controller.reconcilers.agent import COORDINATOR_POWER, STATUS_FIELDS, AgentReconciler
from controller.reconcilers.agent_files import AgentWiring, agent_files
from controller.reconcilers.base import Result, TemporaryError
from controller.reconcilers.rollout_plan import active_target, rollout_for
from controller.reconcilers.team_context import channel_policy, leader_agents_md, team_admin_id
from controller.services import events

RUNTIME_IMAGES = {
    "openclaw": "HICLAW_WORKER_IMAGE",
    "copaw": "HICLAW_COPAW_WORKER_IMAGE",
    "hermes": "HICLAW_HERMES_WORKER_IMAGE",
}


class WorkerReconciler(AgentReconciler[Worker]):
    kind = "worker"
    status_fields = [*STATUS_FIELDS, "running_image"]
    # Set by a pass that left the instance to a rollout under way: the phase is Updating.
    updating = False

    def instance_of(self, worker: Worker) -> str:
        return worker.current_instance

    def instances_to_delete(self, worker: Worker) -> list[str]:
        target = active_target(worker.name)
        extra = [target.new_instance] if target is not None and target.new_instance else []
        return [worker.current_instance, *extra]

    def ensure_instance(self, worker: Worker) -> None:
        if not self.rolling(worker):
            super().ensure_instance(worker)

    def rolling(self, worker: Worker) -> bool:
        """Whether the instance is a rollout's to replace (docs/rollouts.md): a running
        instance whose image is not the worker's image is never replaced by this pass."""
        target = active_target(worker.name)
        if target is not None:
            self.updating = True
            worker.set_condition("InstanceReady", "True", "RollingOut", f"rollout #{target.upgrade_id} under way")
            return True
        image = self._image(worker)
        if image == worker.running_image and any(c["type"] == "ImageCurrent" for c in worker.conditions):
            worker.set_condition("ImageCurrent", "True", "Current", f"runs {image}")
        if worker.state != DesiredState.RUNNING or not worker.running_image or image == worker.running_image:
            return False
        try:
            running = self.connections.backend.status(worker.current_instance).running
        except BackendError as error:
            raise TemporaryError("InstanceReady", "BackendUnavailable", str(error)) from None
        if not running:
            return False  # nothing to keep up: the instance is replaced now, as it always was
        upgrade = rollout_for(worker, image)
        mine = upgrade.targets.filter(worker=worker.name).first()
        if not upgrade.finished or (mine is not None and mine.state == TargetState.RUNNING):
            self.updating = True
            worker.set_condition("InstanceReady", "True", "RollingOut", f"rollout #{upgrade.pk} to {image}")
            enqueue_rollout(upgrade.pk)
            return True
        # The rollout to this image ended without replacing this worker: keep the old instance.
        why = (mine.message if mine is not None and mine.message else "") or upgrade.message
        worker.set_condition("InstanceReady", "True", f"Rollout{upgrade.state}", f"rollout #{upgrade.pk}: {why}")
        worker.set_condition("ImageCurrent", "False", f"Rollout{upgrade.state}", f"runs {worker.running_image}")
        return True

    def settled(self, worker: Worker) -> Result:
        result = super().settled(worker)
        if self.updating:
            worker.phase = AgentPhase.UPDATING
            self.save(worker)
        return result

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

    def room_basis(self, worker: Worker) -> list:
        # The names ``room_members`` gives accounts to (their accounts are made on its way).
        team = worker.team if worker.team_id else None
        if team is not None and worker.role == MemberRole.WORKER:
            return ["leader", team.typed_spec.leader.name, team_admin_id(team)]
        manager = Manager.current()
        return ["manager", manager.name if manager is not None else ""]

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

    def phase_changed(self, worker: Worker, before: str) -> None:
        events.record_phase("Worker", worker.name, before, worker.phase, team=worker.team_name)
        # The team's phase and readiness summarise its members'.
        if worker.team is not None:
            self.connections.enqueue("Team", worker.team.name)

    def record_instance(self, worker: Worker, status) -> None:
        worker.running_image = status.image
