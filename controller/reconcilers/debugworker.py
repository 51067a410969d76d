"""The DebugWorker reconciler: an instance that mirrors other agents' workspaces, read-only.

Each step records a condition and saves its progress before the next:

- TargetsResolved: the workers it mirrors (a team target is the leader and the
  workers) — one that does not exist fails it for good, naming it; the rest
  are recorded as ``status.mountedWorkspaces``, which is all its read API reaches.
- MatrixReady: its own account and debug room (controller/reconcilers/debug_room.py);
  Disabled without Matrix.
- StorageReady: the ``debug-analysis`` skill under its own prefix
  ``debug/<name>/skills/debug-analysis/`` (beside its exports and reports),
  written only when the skill's digest changed.
- InstanceReady: the debug instance (``hiclaw-debug-<name>``), with a fresh
  ``debug-worker`` token when it is (re)created, replaced when its image or
  what its environment says changed.

``expiresAt`` is its creation plus ``spec.retention`` (``0``: never). A pass at
or after it marks it Expired and deletes it at once: the instance, its tokens,
its Matrix account (deactivated) and its room's members go, then the row. A
team's default DebugWorker comes back new from the Team reconciler. Time comes
from ``Connections.clock`` so tests move it instead of waiting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from datetime import timedelta
from pathlib import Path

from django.conf import settings

from controller import naming
from controller.agent import debug_agent
from controller.backends.base import BackendError, InstanceSpec
from controller.clients.matrix import MatrixError
from controller.connections import Connections
from controller.manifests.schema import duration_seconds
from controller.models import AgentToken, DebugWorker, DebugWorkerPhase, Identity
from controller.reconcilers import base
from controller.reconcilers.base import PermanentError, Result, TemporaryError, mark_failed, mark_settled, retry_failed
from controller.reconcilers.crashes import RESTART_FIELDS, CrashLoopBackOff, RestartGuard
from controller.reconcilers.debug_room import audience_entries, ensure_debug_room, resolve_audience, tear_down
from controller.reconcilers.rooms import matrix_errors
from controller.reconcilers.steps import converge_instance, instance_ready, write_files
from controller.services import debug_targets, live
from controller.services.lifecycle import request_deletion

logger = logging.getLogger(__name__)

STATUS_FIELDS = [
    *base.STATUS_FIELDS,
    "matrix_user_id",
    "room_id",
    "container_state",
    "mounted_workspaces",
    "expires_at",
    "config_digest",
    "instance_digest",
    *RESTART_FIELDS,
]
INSTANCE_KIND = "debugworker"  # the backend's label for DebugWorker instances
DEBUG_AGENT = Path(debug_agent.__file__)  # what the process backend runs
SKILL_NAME = "debug-analysis"
SKILL_DIR = Path(__file__).resolve().parents[1] / "skills" / SKILL_NAME


def instance_name(name: str) -> str:
    return naming.instance_name("debug", name)


def skill_files() -> dict[str, bytes]:
    """The ``debug-analysis`` skill, as shipped in controller/skills/, by path inside the skill."""
    return {
        path.relative_to(SKILL_DIR).as_posix(): path.read_bytes()
        for path in sorted(SKILL_DIR.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def skill_prefix(debugworker: DebugWorker) -> str:
    return f"{debug_targets.output_prefix(debugworker)}skills/{SKILL_NAME}/"


class DebugWorkerReconciler:
    def __init__(self, connections: Connections):
        self.connections = connections
        self.steps = [self.resolve_targets, self.ensure_matrix, self.write_skill, self.ensure_instance]

    def reconcile(self, debugworker: DebugWorker) -> Result:
        phase_before = debugworker.phase
        result = self.converge(debugworker)
        if debugworker.team_name and (debugworker.phase != phase_before or debugworker.pk is None):
            live.team_changed(debugworker.team_name)  # the team's pages list its DebugWorkers
        return result

    def converge(self, debugworker: DebugWorker) -> Result:
        if debugworker.deletion_requested_at is not None:
            return self.delete(debugworker)
        self.record_expiry(debugworker)
        if self.expired(debugworker):
            return self.expire(debugworker)
        try:
            for step in self.steps:
                step(debugworker)
                self.save(debugworker)
        except TemporaryError as error:
            return self.failed(debugworker, error)
        mark_settled(debugworker, DebugWorkerPhase.RUNNING)
        self.save(debugworker)
        return Result(requeue_after=self.until_expiry(debugworker))

    # --- retention ----------------------------------------------------------------
    def record_expiry(self, debugworker: DebugWorker) -> None:
        seconds = duration_seconds(debugworker.typed_spec.retention)
        expires_at = debugworker.created_at + timedelta(seconds=seconds) if seconds else None
        if expires_at != debugworker.expires_at:
            debugworker.expires_at = expires_at
            self.save(debugworker)

    def expired(self, debugworker: DebugWorker) -> bool:
        return debugworker.expires_at is not None and self.connections.clock() >= debugworker.expires_at

    def until_expiry(self, debugworker: DebugWorker) -> float | None:
        """Seconds until the pass that deletes it, when that comes before the next periodic
        resync (which queues an expired one itself); None otherwise. A requeue days ahead
        would sit in a Celery worker as an ETA task, and a Redis broker redelivers such
        tasks once its visibility timeout passes."""
        if debugworker.expires_at is None:
            return None
        seconds = max((debugworker.expires_at - self.connections.clock()).total_seconds(), 0.0)
        return seconds if seconds <= settings.RESYNC_INTERVAL_SECONDS else None

    def expire(self, debugworker: DebugWorker) -> Result:
        debugworker.phase = DebugWorkerPhase.EXPIRED
        debugworker.message = f"retention {debugworker.typed_spec.retention} ran out at {debugworker.expires_at}"
        self.save(debugworker)
        logger.info("debugworker/%s: expired, deleting", debugworker.name)
        request_deletion(debugworker)
        debugworker.refresh_from_db(fields=["deletion_requested_at"])
        return self.delete(debugworker)

    # --- the steps ----------------------------------------------------------------
    def resolve_targets(self, debugworker: DebugWorker) -> None:
        targets = debug_targets.resolve(debugworker)
        if targets.missing:
            raise PermanentError("TargetsResolved", "NotFound", f"no such target: {', '.join(targets.missing)}")
        debugworker.mounted_workspaces = debug_targets.mounted_workspaces(targets.workers)
        debugworker.set_condition("TargetsResolved", "True", "Resolved", ", ".join(targets.workers))

    def ensure_matrix(self, debugworker: DebugWorker) -> None:
        matrix = self.connections.matrix
        if matrix is None:
            debugworker.set_condition("MatrixReady", "False", "Disabled", "HICLAW_MATRIX_URL is not set")
            return
        with matrix_errors():
            audience = resolve_audience(matrix, self.connections.matrix_admin(), audience_entries(debugworker))
            debugworker.matrix_user_id, debugworker.room_id = ensure_debug_room(self.connections, debugworker, audience)
        message = f"{debugworker.matrix_user_id} in {debugworker.room_id} with {len(audience.user_ids)} users"
        if audience.skipped:
            message += f"; no Matrix account for {', '.join(audience.skipped)} (skipped)"
        debugworker.set_condition("MatrixReady", "True", "Ready", message)

    def write_skill(self, debugworker: DebugWorker) -> None:
        prefix = skill_prefix(debugworker)
        files = skill_files()
        debugworker.config_digest = write_files(
            self.connections.storage, prefix, files, written=debugworker.config_digest, marker="SKILL.md"
        )
        debugworker.set_condition("StorageReady", "True", "Written", f"{len(files)} files under {prefix}")

    def ensure_instance(self, debugworker: DebugWorker) -> None:
        name = instance_name(debugworker.name)
        guard = RestartGuard(debugworker, name, self.connections.clock(), team=lambda: debugworker.team_name)
        # What it mirrors, its image or its credential changed, or its token was revoked.
        status, debugworker.instance_digest = converge_instance(
            self.connections.backend,
            name,
            want_running=True,
            digest=self.instance_digest(debugworker),
            recorded_digest=debugworker.instance_digest,
            token_held=lambda: self.holds_token(debugworker),
            describe=lambda: self.instance_spec(debugworker, name),
            before_start=guard.before_start,
        )
        guard.after_start(status)
        debugworker.container_state = status.state
        instance_ready(debugworker, name, status)

    # --- the instance ---------------------------------------------------------------
    def holds_token(self, debugworker: DebugWorker) -> bool:
        return AgentToken.objects.active().filter(identity=Identity.DEBUG_WORKER, subject=debugworker.name).exists()

    def environment(self, debugworker: DebugWorker) -> dict[str, str]:
        """What the instance is told, its API token aside (that is minted with each new instance)."""
        spec = debugworker.typed_spec
        credential = spec.matrix_credential
        return {
            "HICLAW_CONTROLLER_URL": settings.HICLAW_CONTROLLER_URL,
            "HICLAW_AGENT_KIND": "debug",
            "HICLAW_AGENT_IDENTITY": str(Identity.DEBUG_WORKER),
            "HICLAW_DEBUG_WORKER_NAME": debugworker.name,
            "HICLAW_DEBUG_TARGETS": ",".join(debug_targets.mounted_targets(debugworker)),
            "HICLAW_TEAM": debugworker.team_name,
            "HICLAW_VERSION": spec.hiclaw_version or "",
            "HICLAW_MATRIX_URL": settings.HICLAW_MATRIX_URL,
            "HICLAW_MATRIX_ROOM_ID": debugworker.room_id,
            # The export credential (spec.matrixCredential), not the debug account's own.
            "HICLAW_MATRIX_USER_ID": credential.user_id if credential is not None else "",
            "HICLAW_MATRIX_ACCESS_TOKEN": debugworker.matrix_access_token,
            "HICLAW_HEARTBEAT_SECONDS": str(settings.HICLAW_AGENT_HEARTBEAT_SECONDS),
        }

    def instance_digest(self, debugworker: DebugWorker) -> str:
        basis = {"image": settings.HICLAW_DEBUG_WORKER_IMAGE, "env": self.environment(debugworker)}
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()

    def instance_spec(self, debugworker: DebugWorker, name: str) -> InstanceSpec:
        if not settings.HICLAW_CONTROLLER_URL:
            raise PermanentError(
                "InstanceReady",
                "NoControllerURL",
                "HICLAW_CONTROLLER_URL is not set: the debug instance would not reach the API",
            )
        _, token = AgentToken.mint(Identity.DEBUG_WORKER, debugworker.name, replace=True)
        env = self.environment(debugworker)
        secrets = {"HICLAW_AGENT_TOKEN": token, "HICLAW_AUTH_TOKEN": token}
        secrets["HICLAW_MATRIX_ACCESS_TOKEN"] = env.pop("HICLAW_MATRIX_ACCESS_TOKEN")
        return InstanceSpec(
            name=name,
            kind=INSTANCE_KIND,
            resource=debugworker.name,
            team=debugworker.team_name,
            image=settings.HICLAW_DEBUG_WORKER_IMAGE,
            command=(sys.executable, str(DEBUG_AGENT)),
            env=env,
            secret_env=secrets,
            workdir=str(settings.DATA_DIR / "workspaces" / f"debug-{debugworker.name}"),
        )

    # --- deletion and status --------------------------------------------------------
    def delete(self, debugworker: DebugWorker) -> Result:
        # Its API access ends first: nothing may read through a DebugWorker being removed.
        AgentToken.objects.revoke_agent(Identity.DEBUG_WORKER, debugworker.name)
        try:
            self.connections.backend.delete(instance_name(debugworker.name))
            tear_down(self.connections, debugworker)
        except (BackendError, MatrixError) as error:
            debugworker.failures += 1
            debugworker.message = f"deletion waits: {error}"
            self.save(debugworker)
            return retry_failed(debugworker.failures)
        debugworker.delete()
        logger.info("debugworker/%s: deleted", debugworker.name)
        if debugworker.team_name:
            # A team's default DebugWorker is renewed by its Team's next pass.
            self.connections.enqueue("Team", debugworker.team_name)
        return Result()

    def failed(self, debugworker: DebugWorker, error: TemporaryError) -> Result:
        permanent = isinstance(error, PermanentError)
        crashed = isinstance(error, CrashLoopBackOff)
        phase = DebugWorkerPhase.FAILED if permanent or crashed else DebugWorkerPhase.PENDING
        result = mark_failed(debugworker, error.condition, error.reason, error.message, phase)
        if isinstance(error, CrashLoopBackOff):
            result = Result(requeue_after=error.wait, failed=True)
        self.save(debugworker)
        logger.warning("debugworker/%s: %s", debugworker.name, debugworker.message)
        until = self.until_expiry(debugworker)
        if until is not None and result.requeue_after is not None and until < result.requeue_after:
            return Result(requeue_after=until, failed=True)
        return result

    @staticmethod
    def save(debugworker: DebugWorker) -> None:
        # Only status columns: a spec written concurrently by an apply survives.
        debugworker.save(update_fields=STATUS_FIELDS)
