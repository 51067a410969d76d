"""The Worker reconciler (DESIGN §5): Matrix, gateway, generated config, instance, status.

Each step records a condition (MatrixReady, GatewayReady, StorageReady,
InstanceReady) and saves its progress on the row before the next step, so a
pass interrupted by a crash resumes without redoing what succeeded. Steps read
the world before changing it: a second pass over a converged worker changes
nothing outside the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from controller.agent import reference_worker
from controller.backends.base import BackendError, BackendUnavailable, InstanceSpec, InstanceState
from controller.clients.gateway import GatewayError, GatewayUnavailable
from controller.clients.matrix import MatrixError, MatrixSession, MatrixUnavailable
from controller.clients.storage import StorageError
from controller.models import AgentPhase, AgentToken, DesiredState, Identity, Manager, Worker
from controller.reconcilers import naming
from controller.reconcilers.agent_files import AgentWiring, agent_files, config_file_name, files_digest
from controller.reconcilers.base import PermanentError, Result, TemporaryError, backoff
from controller.reconcilers.services import Services

logger = logging.getLogger(__name__)

KIND = "worker"
STATUS_FIELDS = [
    "phase",
    "message",
    "observed_generation",
    "conditions",
    "reconciled_at",
    "failures",
    "container_state",
    "matrix_user_id",
    "room_id",
    "running_image",
    "matrix_access_token",
    "config_digest",
    "instance_digest",
    "updated_at",
]
RUNTIME_IMAGES = {
    "openclaw": "HICLAW_WORKER_IMAGE",
    "copaw": "HICLAW_COPAW_WORKER_IMAGE",
    "hermes": "HICLAW_HERMES_WORKER_IMAGE",
}
# What the process backend runs (containers run their image's own command).
REFERENCE_WORKER = Path(reference_worker.__file__)
COORDINATOR_POWER = 100  # the manager (or team leader) moderates a worker's room


class WorkerReconciler:
    def __init__(self, services: Services):
        self.services = services
        self.steps = [self.ensure_matrix, self.ensure_gateway, self.write_config, self.ensure_instance]

    def reconcile(self, worker: Worker) -> Result:
        if worker.deletion_requested_at is not None:
            return self.delete(worker)
        try:
            for step in self.steps:
                step(worker)
                self.save(worker)
        except TemporaryError as error:
            return self.failed(worker, error)
        worker.phase = self.settled_phase(worker)
        worker.message = ""
        worker.failures = 0
        worker.observed_generation = worker.generation
        worker.reconciled_at = timezone.now()
        self.save(worker)
        return Result()

    # --- steps ------------------------------------------------------------------------
    def ensure_matrix(self, worker: Worker) -> None:
        matrix = self.services.matrix
        if matrix is None:
            worker.set_condition("MatrixReady", "False", "Disabled", "HICLAW_MATRIX_URL is not set")
            return
        try:
            admin = self.services.matrix_admin()
            session = self._agent_session(worker)
            coordinator = self._coordinator(worker)
            wanted = {session.user_id: 0, **({coordinator: COORDINATOR_POWER} if coordinator else {})}
            room_id = worker.room_id or matrix.resolve_alias(admin, naming.room_alias(KIND, worker.name))
            if room_id:
                members = matrix.room_members(admin, room_id)
                missing = [user for user in wanted if members.get(user) not in ("join", "invite")]
                levels = matrix.power_levels(admin, room_id).get("users", {})
                if missing or any(levels.get(user, 0) != level for user, level in wanted.items()):
                    room_id = self._create_room(worker, admin, wanted)
            else:
                room_id = self._create_room(worker, admin, wanted)
            worker.room_id = room_id
            if matrix.room_members(admin, room_id).get(session.user_id) != "join":
                matrix.join(session, room_id)
        except MatrixUnavailable as error:
            raise TemporaryError("MatrixReady", "Unavailable", str(error)) from None
        except MatrixError as error:
            raise TemporaryError("MatrixReady", error.errcode or "MatrixError", str(error)) from None
        worker.set_condition("MatrixReady", "True", "Ready", f"{worker.matrix_user_id} in {worker.room_id}")

    def ensure_gateway(self, worker: Worker) -> None:
        gateway = self.services.gateway
        if not gateway.enabled:
            worker.set_condition("GatewayReady", "False", "Disabled", "HICLAW_GATEWAY_URL is not set")
            return
        consumer = naming.consumer_name(KIND, worker.name)
        try:
            gateway.ensure_consumer(consumer, naming.derived_secret("gateway-key", worker.name))
            gateway.ensure_ai_route(
                worker.model, prefix=naming.prefix(), provider=settings.HICLAW_GATEWAY_PROVIDER, consumers=[consumer]
            )
            gateway.authorize_mcp(consumer, worker.spec.get("mcpServers", []))
        except GatewayUnavailable as error:
            raise TemporaryError("GatewayReady", "Unavailable", str(error)) from None
        except GatewayError as error:
            raise PermanentError("GatewayReady", "Refused", str(error)) from None
        worker.set_condition("GatewayReady", "True", "Ready", consumer)

    def write_config(self, worker: Worker) -> None:
        storage = self.services.storage
        prefix = naming.storage_prefix(worker.name)
        files = agent_files(
            worker.name, worker.spec, self._wiring(worker), team=worker.team.name if worker.team else ""
        )
        digest = files_digest(files)
        try:
            marker = prefix + config_file_name(worker.runtime)
            if digest != worker.config_digest or not storage.exists(marker):
                for file_name, content in files.items():
                    storage.put(prefix + file_name, content)
                worker.config_digest = digest
        except StorageError as error:
            raise TemporaryError("StorageReady", "Unavailable", str(error)) from None
        worker.set_condition("StorageReady", "True", "Written", f"{len(files)} files under {prefix}")

    def ensure_instance(self, worker: Worker) -> None:
        backend = self.services.backend
        name = naming.instance_name(KIND, worker.name)
        want_running = worker.state == DesiredState.RUNNING
        digest = self._instance_digest(worker)
        try:
            status = backend.status(name)
            replace = status.state != InstanceState.MISSING and worker.instance_digest not in ("", digest)
            if replace:
                # Image, runtime or resources changed: only a new instance can apply them.
                backend.delete(name)
            if (status.state == InstanceState.MISSING or replace) and want_running:
                backend.create(self._instance_spec(worker, name))
                worker.instance_digest = digest
            elif want_running and not status.running:
                backend.start(name)
            elif not want_running and status.running:
                backend.stop(name)
            status = backend.status(name)
        except BackendUnavailable as error:
            raise TemporaryError("InstanceReady", "BackendUnavailable", str(error)) from None
        except BackendError as error:
            raise PermanentError("InstanceReady", type(error).__name__, str(error)) from None
        worker.container_state = status.state
        worker.running_image = status.image
        if want_running and not status.running:
            raise TemporaryError("InstanceReady", "NotRunning", f"instance {name} is {status.state}: {status.message}")
        worker.set_condition("InstanceReady", "True", str(status.state), name)

    # --- deletion -------------------------------------------------------------------
    def delete(self, worker: Worker) -> Result:
        name = naming.instance_name(KIND, worker.name)
        try:
            self.services.backend.delete(name)
            if self.services.gateway.enabled:
                consumer = naming.consumer_name(KIND, worker.name)
                self.services.gateway.revoke_mcp(consumer, worker.spec.get("mcpServers", []))
                self.services.gateway.delete_consumer(consumer)
            if self.services.matrix is not None and worker.matrix_user_id:
                self.services.matrix.deactivate(self.services.matrix_admin(), worker.matrix_user_id)
            if settings.HICLAW_DELETE_STORAGE_ON_DELETE:
                self.services.storage.delete_prefix(naming.storage_prefix(worker.name))
        except (BackendError, GatewayError, MatrixError, StorageError) as error:
            worker.failures += 1
            worker.message = f"deletion waits: {error}"
            self.save(worker)
            return Result(requeue_after=backoff(worker.failures))
        AgentToken.objects.active().filter(
            identity__in=[Identity.WORKER, Identity.TEAM_LEADER], subject=worker.name
        ).update(revoked_at=timezone.now())
        worker.delete()
        logger.info("worker/%s: deleted", worker.name)
        return Result()

    # --- status -----------------------------------------------------------------------
    def failed(self, worker: Worker, error: TemporaryError) -> Result:
        worker.set_condition(error.condition, "False", error.reason, error.message)
        worker.failures += 1
        worker.message = f"{error.condition}: {error.message}"
        worker.reconciled_at = timezone.now()
        permanent = isinstance(error, PermanentError)
        worker.phase = AgentPhase.FAILED if permanent else AgentPhase.PENDING
        self.save(worker)
        logger.warning("worker/%s: %s (%s)", worker.name, worker.message, "permanent" if permanent else "will retry")
        return Result(requeue_after=backoff(worker.failures))

    @staticmethod
    def settled_phase(worker: Worker) -> str:
        return {
            DesiredState.RUNNING: AgentPhase.RUNNING,
            DesiredState.SLEEPING: AgentPhase.SLEEPING,
            DesiredState.STOPPED: AgentPhase.STOPPED,
        }[worker.state]

    @staticmethod
    def save(worker: Worker) -> None:
        # Only status columns: a spec written concurrently by an apply survives.
        worker.save(update_fields=STATUS_FIELDS)

    # --- helpers ----------------------------------------------------------------------
    def _agent_session(self, worker: Worker) -> MatrixSession:
        matrix = self.services.matrix
        user_id = matrix.user_id(naming.matrix_localpart(KIND, worker.name))
        if worker.matrix_access_token:
            session = MatrixSession(user_id, worker.matrix_access_token)
            if matrix.whoami(session) == user_id:
                worker.matrix_user_id = user_id
                return session
        session = matrix.register(
            naming.matrix_localpart(KIND, worker.name),
            naming.derived_secret("matrix-password", worker.name),
            display_name=worker.name,
        )
        worker.matrix_user_id, worker.matrix_access_token = session.user_id, session.access_token
        self.save(worker)
        return session

    def _coordinator(self, worker: Worker) -> str | None:
        """The Matrix user who coordinates this worker: the Manager, when there is one."""
        manager = Manager.objects.filter(deletion_requested_at__isnull=True).order_by("name").first()
        if manager is None:
            return None
        matrix = self.services.matrix
        localpart = naming.matrix_localpart("manager", manager.name)
        user_id = matrix.user_id(localpart)
        # The Manager's own reconciler keeps this account; creating it here lets a
        # worker's room be complete even before the Manager's first pass.
        if not matrix.user_exists(self.services.matrix_admin(), user_id):
            matrix.register(localpart, naming.derived_secret("matrix-password", manager.name))
        return user_id

    def _create_room(self, worker: Worker, admin: MatrixSession, wanted: dict[str, int]) -> str:
        return self.services.matrix.create_room(
            admin,
            name=f"Worker: {worker.name}",
            alias_localpart=naming.room_alias(KIND, worker.name),
            topic=f"HiClaw worker {worker.name}",
            invite=list(wanted),
            power_levels={user: level for user, level in wanted.items() if level},
        )

    def _wiring(self, worker: Worker) -> AgentWiring:
        gateway = self.services.gateway
        return AgentWiring(
            matrix_url=settings.HICLAW_MATRIX_URL,
            matrix_user_id=worker.matrix_user_id,
            matrix_access_token=worker.matrix_access_token,
            room_id=worker.room_id,
            gateway_url=settings.HICLAW_GATEWAY_URL if gateway.enabled else "",
            gateway_consumer=naming.consumer_name(KIND, worker.name) if gateway.enabled else "",
            gateway_key=naming.derived_secret("gateway-key", worker.name) if gateway.enabled else "",
            controller_url=settings.HICLAW_CONTROLLER_URL,
        )

    @staticmethod
    def _image(worker: Worker) -> str:
        return worker.image or getattr(settings, RUNTIME_IMAGES[worker.runtime])

    def _instance_digest(self, worker: Worker) -> str:
        limits = (worker.spec.get("resources") or {}).get("limits") or {}
        basis = {"image": self._image(worker), "runtime": worker.runtime, "limits": limits}
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()

    def _instance_spec(self, worker: Worker, name: str) -> InstanceSpec:
        if not settings.HICLAW_CONTROLLER_URL:
            raise PermanentError(
                "InstanceReady",
                "NoControllerURL",
                "HICLAW_CONTROLLER_URL is not set: agents would not reach the API; set it for the Celery workers",
            )
        team = worker.team.name if worker.team else ""
        identity = Identity.TEAM_LEADER if worker.role == "team_leader" else Identity.WORKER
        _, token = AgentToken.mint(identity, worker.name, team=team, replace=True)
        limits = (worker.spec.get("resources") or {}).get("limits") or {}
        env = {
            "HICLAW_CONTROLLER_URL": settings.HICLAW_CONTROLLER_URL,
            "HICLAW_AGENT_TOKEN": token,
            "HICLAW_AUTH_TOKEN": token,  # the name the original hiclaw CLI reads
            "HICLAW_WORKER_NAME": worker.name,
            "HICLAW_TEAM": team,
            "HICLAW_RUNTIME": worker.runtime,
            "HICLAW_MODEL": worker.model,
            "HICLAW_MATRIX_URL": settings.HICLAW_MATRIX_URL,
            "HICLAW_MATRIX_USER_ID": worker.matrix_user_id,
            "HICLAW_MATRIX_ROOM_ID": worker.room_id,
            "HICLAW_WORKSPACE_PREFIX": naming.storage_prefix(worker.name),
            "HICLAW_HEARTBEAT_SECONDS": str(settings.HICLAW_AGENT_HEARTBEAT_SECONDS),
        }
        return InstanceSpec(
            name=name,
            kind=KIND,
            resource=worker.name,
            team=team,
            image=self._image(worker),
            command=(sys.executable, str(REFERENCE_WORKER)),
            env=env,
            labels=worker.spec.get("labels") or {},
            cpu=limits.get("cpu"),
            memory=limits.get("memory"),
            workdir=str(settings.DATA_DIR / "workspaces" / worker.name),
        )
