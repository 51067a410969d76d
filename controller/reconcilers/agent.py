"""What Worker and Manager reconciles share: the four steps of an agent.

Each step records a condition (MatrixReady, GatewayReady, StorageReady,
InstanceReady); the pass saves them with its outcome, and only when they
changed (controller/reconcilers/status_writes.py). What is costly to redo is
saved as soon as it is had (the agent's Matrix session and room), so a pass
interrupted by a crash does not make them again; files and gateway objects are
written idempotently. Steps read the world before changing it: a second pass
over a converged agent changes nothing outside the database, and a step whose
inputs did not change skips its calls for a while (controller/reconcilers/step_digests.py).
Subclasses say who shares the agent's room, which files it gets and how its
instance is described.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from concurrent.futures import Future
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.utils import timezone

from controller import naming
from controller.agent import reference_worker
from controller.backends.base import InstanceSpec
from controller.clients.gateway import GatewayError, GatewayUnavailable
from controller.clients.matrix import MatrixSession
from controller.connections import Connections
from controller.models import AgentPhase, AgentResource, AgentToken, DesiredState
from controller.reconcilers import base, step_digests
from controller.reconcilers.agent_delete import delete_agent
from controller.reconcilers.agent_files import AgentWiring, config_file_name, files_digest
from controller.reconcilers.base import PermanentError, Result, TemporaryError, mark_failed, mark_settled
from controller.reconcilers.crashes import RESTART_FIELDS, CrashLoopBackOff, RestartGuard
from controller.reconcilers.human import queue_humans
from controller.reconcilers.overlap import beside
from controller.reconcilers.rooms import converge_room, ensure_account, join_members, matrix_errors
from controller.reconcilers.status_writes import StatusWriter
from controller.reconcilers.steps import converge_instance, instance_ready, write_files

logger = logging.getLogger(__name__)

STATUS_FIELDS = [
    *base.STATUS_FIELDS,
    "container_state",
    "matrix_user_id",
    "room_id",
    "matrix_access_token",
    "config_digest",
    "instance_digest",
    "step_digests",
    "instance_started_at",
    *RESTART_FIELDS,
]
# What the process backend runs (containers run their image's own command).
REFERENCE_WORKER = Path(reference_worker.__file__)
COORDINATOR_POWER = 100  # the manager (or team leader) and team admin moderate an agent's room
SETTLED_PHASES: dict[str, AgentPhase] = {state: AgentPhase(state) for state in DesiredState}  # same names

_A = TypeVar("_A", bound=AgentResource)


class AgentReconciler(Generic[_A]):
    kind: str  # "worker" | "manager": names, labels and the instance kind
    status_fields: list[str] = STATUS_FIELDS

    def __init__(self, connections: Connections):
        self.connections = connections
        self.steps = [self.ensure_matrix, self.ensure_gateway, self.write_config, self.ensure_instance]
        self.writer = StatusWriter(self.status_fields)
        # The gateway's calls of this pass, made while the Matrix step runs (see ``reconcile``).
        self._gateway_calls: Future[str] | None = None

    # --- what subclasses decide -------------------------------------------------------
    def room_members(self, agent: _A, user_id: str) -> dict[str, int]:
        """Matrix users of the agent's own room with their power levels (the agent itself included)."""
        raise NotImplementedError

    def files(self, agent: _A, wiring: AgentWiring) -> dict[str, bytes]:
        raise NotImplementedError

    def identity(self, agent: _A) -> tuple[str, str]:
        """(token identity, team) of the agent's API token."""
        raise NotImplementedError

    def default_image(self, agent: _A) -> str:
        raise NotImplementedError

    def room_title(self, agent: _A) -> str:
        return f"{self.kind.capitalize()}: {agent.name}"

    def room_basis(self, agent: _A) -> list:
        return []  # who else ``room_members`` puts in the room, named without asking the homeserver

    # --- the pass ---------------------------------------------------------------------
    def reconcile(self, agent: _A) -> Result:
        if agent.deletion_requested_at is not None:
            return self.delete(agent)
        self.writer.remember(agent)
        phase_before = agent.phase
        try:
            self.run_steps(agent)
        except TemporaryError as error:
            result = self.failed(agent, error)
        else:
            result = self.settled(agent)
        if agent.phase != phase_before:
            self.phase_changed(agent, phase_before)
        return result

    def run_steps(self, agent: _A) -> None:
        """The steps in order. The gateway consumer needs nothing from Matrix, so its calls go
        out beside the Matrix step; ``ensure_gateway`` takes their outcome in its turn (a pass
        that fails before then drops it, as it would not have run)."""
        calls = self.connections.gateway.enabled and not self._gateway_unchanged(agent)
        with beside(self.gateway_calls, agent) if calls else nullcontext() as self._gateway_calls:
            for step in self.steps:
                started = time.perf_counter()
                step(agent)
                took = time.perf_counter() - started
                logger.debug("%s/%s: %s took %.3f s", self.kind, agent.name, getattr(step, "__name__", step), took)
        self._gateway_calls = None

    def phase_changed(self, agent: _A, before: str) -> None:
        """Kinds whose phase others summarise (a team member's) override this."""

    def settled(self, agent: _A) -> Result:
        mark_settled(agent, SETTLED_PHASES[agent.state])
        self.save(agent)
        return Result()

    def ensure_matrix(self, agent: _A) -> None:
        matrix = self.connections.matrix
        if matrix is None:
            agent.set_condition("MatrixReady", "False", "Disabled", "HICLAW_MATRIX_URL is not set")
            return
        if step_digests.unchanged(
            agent,
            "matrix",
            "MatrixReady",
            self._matrix_basis(agent),
        ):
            return
        with matrix_errors():
            admin = self.connections.matrix_admin()
            user_id = matrix.user_id(naming.matrix_localpart(self.kind, agent.name))
            wanted = self.room_members(agent, user_id)
            room_before = agent.room_id
            # Registration (the homeserver hashes the password: the step's slowest call) goes
            # out while the admin account makes the room; Synapse takes an invite to an account
            # registered a moment later (a homeserver that refuses fails this pass, and the next
            # finds the account kept). The agent joins once it has its session.
            with beside(self._agent_session, agent) as login:
                try:
                    agent.room_id = converge_room(
                        matrix,
                        admin,
                        alias=naming.room_alias(self.kind, agent.name),
                        title=self.room_title(agent),
                        wanted=wanted,
                        room_id=agent.room_id,
                    )
                finally:
                    self._keep_session(agent, login)
            join_members(matrix, admin, agent.room_id, wanted, {user_id: login.result()})
            if agent.room_id != room_before:
                self.save(agent)
                queue_humans(self.connections)
        agent.set_condition("MatrixReady", "True", "Ready", f"{agent.matrix_user_id} in {agent.room_id}")
        step_digests.record(agent, "matrix", self._matrix_basis(agent))

    def ensure_gateway(self, agent: _A) -> None:
        if not self.connections.gateway.enabled:
            agent.set_condition("GatewayReady", "False", "Disabled", "HICLAW_GATEWAY_URL is not set")
            return
        if self._gateway_unchanged(agent):
            return
        # Made beside the Matrix step by ``run_steps``; a step run on its own makes them now.
        consumer = self._gateway_calls.result() if self._gateway_calls else self.gateway_calls(agent)
        agent.set_condition("GatewayReady", "True", "Ready", consumer)
        step_digests.record(agent, "gateway", step_digests.gateway_basis(self.kind, agent, self._gateway_key(agent)))

    def gateway_calls(self, agent: _A) -> str:
        """Give the agent its consumer, its model's route and its MCP servers; return the consumer.
        Only gateway calls: it runs in a thread of its own (no database)."""
        gateway = self.connections.gateway
        consumer = naming.consumer_name(self.kind, agent.name)
        try:
            gateway.ensure_consumer(consumer, self._gateway_key(agent))
            gateway.ensure_ai_route(
                agent.model, prefix=naming.prefix(), provider=settings.HICLAW_GATEWAY_PROVIDER, consumers=[consumer]
            )
            gateway.authorize_mcp(consumer, agent.typed_spec.mcp_servers or [])
        except GatewayUnavailable as error:
            raise TemporaryError("GatewayReady", "Unavailable", str(error)) from None
        except GatewayError as error:
            raise PermanentError("GatewayReady", "Refused", str(error)) from None
        return consumer

    def write_config(self, agent: _A) -> None:
        prefix = naming.storage_prefix(self.kind, agent.name)
        files = self.files(agent, self._wiring(agent))
        marker = config_file_name(agent.runtime)
        basis = [settings.HICLAW_STORAGE_URL, prefix, marker, files_digest(files)]
        if agent.config_digest == basis[-1] and step_digests.unchanged(agent, "storage", "StorageReady", basis):
            return
        agent.config_digest = write_files(
            self.connections.storage, prefix, files, written=agent.config_digest, marker=marker
        )
        agent.set_condition("StorageReady", "True", "Written", f"{len(files)} files under {prefix}")
        step_digests.record(agent, "storage", basis)

    def instance_of(self, agent: _A) -> str:
        """The backend name of the agent's current instance (a Worker's moves with rollouts)."""
        return naming.instance_name(self.kind, agent.name)

    def ensure_instance(self, agent: _A) -> None:
        name = self.instance_of(agent)
        want_running = agent.state == DesiredState.RUNNING
        guard = RestartGuard(agent, name, self.connections.clock(), team=lambda: self.identity(agent)[1])
        # Image, runtime or resources changed, or the token was revoked (a role or team change).
        status, agent.instance_digest = converge_instance(
            self.connections.backend,
            name,
            want_running=want_running,
            digest=self.instance_digest(agent),
            recorded_digest=agent.instance_digest,
            token_held=lambda: self._holds_token(agent),
            describe=lambda: self.instance_spec(agent, name),
            before_start=guard.before_start,
        )
        guard.after_start(status)
        agent.container_state = status.state
        agent.instance_started_at = _started_at(agent, status)
        self.record_instance(agent, status)
        instance_ready(agent, name, status, want_running=want_running)

    def record_instance(self, agent: _A, status) -> None:
        """Kinds that keep more of the instance's status (e.g. its image) override this."""

    def instances_to_delete(self, agent: _A) -> list[str]:
        """Every instance the agent may have (a Worker's rollout may have started a second)."""
        return [self.instance_of(agent)]

    def delete(self, agent: _A) -> Result:
        return delete_agent(self, agent)

    # --- status -----------------------------------------------------------------------
    def failed(self, agent: _A, error: TemporaryError) -> Result:
        permanent = isinstance(error, PermanentError)
        crashed = isinstance(error, CrashLoopBackOff)
        phase = AgentPhase.FAILED if permanent or crashed else AgentPhase.PENDING
        result = mark_failed(agent, error.condition, error.reason, error.message, phase)
        self.save(agent)
        if isinstance(error, CrashLoopBackOff):
            return Result(requeue_after=error.wait, failed=True)  # the start waits for its backoff, no longer
        logger.warning("%s/%s: %s (%s)", self.kind, agent.name, agent.message, "permanent" if permanent else "retry")
        return result

    def save(self, agent: _A) -> None:
        # Only status columns (a spec written concurrently by an apply survives), and only
        # when they changed: the save signals tell live pages and the CRD mirror.
        self.writer.save(agent)

    # --- helpers ----------------------------------------------------------------------
    def ensure_account(self, kind: str, name: str) -> str:
        return ensure_account(self.connections, kind, name)

    def _agent_session(self, agent: _A) -> MatrixSession:
        """The agent's session: its stored token while that works, else a new one (registering
        the account, or logging in to it). Only homeserver calls: it runs beside the room's."""
        matrix = self.connections.require_matrix()
        localpart = naming.matrix_localpart(self.kind, agent.name)
        user_id = matrix.user_id(localpart)
        if agent.matrix_access_token:
            session = MatrixSession(user_id, agent.matrix_access_token)
            if matrix.whoami(session) == user_id:
                return session
        password = naming.derived_secret("matrix-password", f"{self.kind}:{agent.name}")
        return matrix.register(localpart, password, display_name=agent.name)

    def _keep_session(self, agent: _A, login: Future[MatrixSession]) -> None:
        """Record a new session as soon as it is had (also when the room failed meanwhile),
        so the next pass uses it rather than logging in again."""
        if login.exception() is not None:
            return
        session = login.result()
        if (agent.matrix_user_id, agent.matrix_access_token) != (session.user_id, session.access_token):
            agent.matrix_user_id, agent.matrix_access_token = session.user_id, session.access_token
            self.save(agent)

    def _holds_token(self, agent: _A) -> bool:
        """Whether the agent has an active token for what it is now (identity and team)."""
        identity, team = self.identity(agent)
        return AgentToken.objects.active().filter(identity=identity, subject=agent.name, team=team).exists()

    def _matrix_basis(self, agent: _A) -> list:
        return step_digests.matrix_basis(self.kind, agent, self.room_title(agent), self.room_basis(agent))

    def _gateway_unchanged(self, agent: _A) -> bool:
        basis = step_digests.gateway_basis(self.kind, agent, self._gateway_key(agent))
        return step_digests.unchanged(agent, "gateway", "GatewayReady", basis)

    def _gateway_key(self, agent: _A) -> str:
        return naming.derived_secret("gateway-key", f"{self.kind}:{agent.name}")

    def _wiring(self, agent: _A) -> AgentWiring:
        gateway = self.connections.gateway
        return AgentWiring(
            matrix_url=settings.HICLAW_MATRIX_URL,
            matrix_user_id=agent.matrix_user_id,
            matrix_access_token=agent.matrix_access_token,
            room_id=agent.room_id,
            gateway_url=settings.HICLAW_GATEWAY_URL if gateway.enabled else "",
            gateway_consumer=naming.consumer_name(self.kind, agent.name) if gateway.enabled else "",
            gateway_key=self._gateway_key(agent) if gateway.enabled else "",
            controller_url=settings.HICLAW_CONTROLLER_URL,
        )

    def _image(self, agent: _A) -> str:
        return agent.image or self.default_image(agent)

    def instance_digest(self, agent: _A, image: str = "") -> str:
        """What the instance was made from (``image``: the agent's own unless given); a
        different digest means the instance is outdated."""
        limits = _limits(agent)
        basis = {"image": image or self._image(agent), "runtime": agent.runtime, "limits": limits}
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()

    def instance_spec(self, agent: _A, name: str, *, token: str = "") -> InstanceSpec:
        """The instance ``name`` of the agent. Without ``token`` a new one is minted that
        revokes the agent's others (one instance at a time); a rollout passes its own."""
        if not settings.HICLAW_CONTROLLER_URL:
            raise PermanentError(
                "InstanceReady",
                "NoControllerURL",
                "HICLAW_CONTROLLER_URL is not set: agents would not reach the API; set it for the Celery workers",
            )
        identity, team = self.identity(agent)
        if not token:
            _, token = AgentToken.mint(identity, agent.name, team=team, replace=True)
        limits = _limits(agent)
        env = {
            "HICLAW_CONTROLLER_URL": settings.HICLAW_CONTROLLER_URL,
            "HICLAW_AGENT_KIND": self.kind,
            "HICLAW_INSTANCE_NAME": name,  # two instances of one agent run during a rollout
            "HICLAW_AGENT_IDENTITY": str(identity),  # a team leader's agent answers for its team
            "HICLAW_WORKER_NAME": agent.name,
            "HICLAW_TEAM": team,
            "HICLAW_RUNTIME": agent.runtime,
            "HICLAW_MODEL": agent.model,
            "HICLAW_MATRIX_URL": settings.HICLAW_MATRIX_URL,
            "HICLAW_MATRIX_USER_ID": agent.matrix_user_id,
            "HICLAW_MATRIX_ROOM_ID": agent.room_id,
            "HICLAW_WORKSPACE_PREFIX": naming.storage_prefix(self.kind, agent.name),
            "HICLAW_HEARTBEAT_SECONDS": str(settings.HICLAW_AGENT_HEARTBEAT_SECONDS),
        }
        return InstanceSpec(
            name=name,
            kind=self.kind,
            resource=agent.name,
            team=team,
            image=self._image(agent),
            command=(sys.executable, str(REFERENCE_WORKER)),
            env=env,
            # HICLAW_AUTH_TOKEN is the name the original hiclaw CLI reads.
            secret_env={"HICLAW_AGENT_TOKEN": token, "HICLAW_AUTH_TOKEN": token},
            # metadata.labels under a Worker's spec.labels (a Manager's spec has none).
            labels={**(agent.labels or {}), **(getattr(agent.typed_spec, "labels", None) or {})},
            cpu=limits.get("cpu"),
            memory=limits.get("memory"),
            workdir=str(settings.DATA_DIR / "workspaces" / f"{self.kind}-{agent.name}"),
            ports=tuple(port.port for port in getattr(agent.typed_spec, "expose", None) or []),
        )


def _started_at(agent: AgentResource, status) -> datetime | None:
    """When the running instance started: the backend's word, else (a backend that cannot tell)
    the first pass that saw it running. None while it does not run."""
    if not status.running:
        return None
    return status.started_at or agent.instance_started_at or timezone.now()


def _limits(agent: AgentResource) -> dict[str, Any]:
    """The instance's resource limits: a Worker's ``spec.resources.limits``; a Manager's spec has none."""
    resources = getattr(agent.typed_spec, "resources", None)
    return resources.limits.manifest() if resources is not None and resources.limits is not None else {}
