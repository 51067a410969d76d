"""The controller's resources (Worker, Team, Human, Manager, DebugWorker) and its records as Django models."""

from controller.models.agent import AgentPhase, AgentResource, DesiredState, Runtime
from controller.models.audit import AuditRecord
from controller.models.base import API_VERSION, ROLE_ANNOTATION, TEAM_ANNOTATION, ConditionStatus, Resource
from controller.models.debugjob import DebugJob
from controller.models.debugworker import DebugWorker, DebugWorkerPhase
from controller.models.event import Event, EventType
from controller.models.heartbeat import AgentState, Heartbeat
from controller.models.human import Human, HumanPhase, PermissionLevel
from controller.models.manager import Manager
from controller.models.team import Team, TeamPhase
from controller.models.token import AgentToken, Identity
from controller.models.upgrade import FINISHED_STATES, RolloutStep, TargetState, Upgrade, UpgradeState, UpgradeTarget
from controller.models.worker import MemberRole, Worker

KINDS: dict[str, type[Resource]] = {model.kind: model for model in (Worker, Team, Human, Manager, DebugWorker)}

__all__ = [
    "API_VERSION",
    "FINISHED_STATES",
    "KINDS",
    "ROLE_ANNOTATION",
    "TEAM_ANNOTATION",
    "AgentPhase",
    "AgentResource",
    "AgentState",
    "AgentToken",
    "AuditRecord",
    "ConditionStatus",
    "DebugJob",
    "DebugWorker",
    "DebugWorkerPhase",
    "DesiredState",
    "Event",
    "EventType",
    "Heartbeat",
    "Human",
    "HumanPhase",
    "Identity",
    "Manager",
    "MemberRole",
    "PermissionLevel",
    "Resource",
    "RolloutStep",
    "Runtime",
    "TargetState",
    "Team",
    "TeamPhase",
    "Upgrade",
    "UpgradeState",
    "UpgradeTarget",
    "Worker",
]
