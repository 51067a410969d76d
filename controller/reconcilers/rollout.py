"""Carrying out an image rollout: one worker after another, blue/green, never a team left without one.

``advance(upgrade_id)`` is one look at a rollout: it steps every target in
progress as far as it can go now, starts pending targets while fewer than
``max_unavailable`` are in progress (workers first, the leader only after
every other target finished), and says when to look again. The Celery task
``advance_rollout`` calls it and queues itself again with that countdown; the
periodic resync queues every rollout still under way, so a rollout survives
any restart. Everything it knows is in the database (UpgradeTarget ``step``,
``step_started_at``, the instance names and the new token's id), saved
before the action it announces, and every action first reads what exists:
creating an instance that already exists or deleting one already gone does
nothing, so a step repeated after a crash is harmless.

A target's steps (docs/rollouts.md):

1. ``saving``: the worker is asked to save its state (a ``save-state``
   notice in its room when Matrix is on, and ``.save-state-signal`` in its
   workspace); the step ends with a heartbeat whose note acknowledges it
   (``ack:save-state:<id>``) or after HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS.
2. ``starting``: the new instance runs beside the old one under a name of its
   own, with a token of its own (the old token still works). It is ready once
   it runs and its token has been used: its agent has called the API (its
   first heartbeat). Not ready within HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS:
   the new instance and its token go, the old one keeps running, the target
   and the rollout fail with the reason.
3. ``cutover``: the old instance and its tokens go; the worker row names the
   new instance and image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from controller import naming
from controller.agent import notices
from controller.backends.base import BackendError, InstanceState
from controller.clients.matrix import MatrixError
from controller.clients.storage import StorageError
from controller.connections import Connections
from controller.models import (
    AgentToken,
    Heartbeat,
    MemberRole,
    RolloutStep,
    TargetState,
    Upgrade,
    UpgradeState,
    UpgradeTarget,
    Worker,
)
from controller.models.token import AGENT_IDENTITIES
from controller.reconcilers.locks import resource_lock
from controller.reconcilers.rollout_plan import worker_busy
from controller.reconcilers.worker import WorkerReconciler
from controller.services import events
from controller.services.notices import send_notice

logger = logging.getLogger(__name__)

SIGNAL_FILE = ".save-state-signal"


def advance(upgrade_id: int, connections: Connections) -> float | None:
    """Step rollout ``upgrade_id`` as far as it can go now; seconds until the next look, or
    None when nothing is left to do (finished, or paused with nothing in progress)."""
    upgrade = Upgrade.objects.filter(pk=upgrade_id, kind=Upgrade.Kind.ROLLOUT).first()
    if upgrade is None:
        return None
    Upgrade.objects.filter(pk=upgrade.pk).update(looked_at=connections.clock())
    if upgrade.state == UpgradeState.PENDING:
        upgrade.state, upgrade.started_at = UpgradeState.RUNNING, connections.clock()
        upgrade.save(update_fields=["state", "started_at", "updated_at"])
    if upgrade.state == UpgradeState.RUNNING:
        _start_next(upgrade, connections)
    _step_all(connections, upgrade, list(upgrade.targets.filter(state=TargetState.RUNNING)))
    if upgrade.state == UpgradeState.RUNNING:
        # Room freed by targets that just finished: the next ones begin in this same look.
        _step_all(connections, upgrade, _start_next(upgrade, connections))
    return _conclude(upgrade, connections)


def _step_all(connections: Connections, upgrade: Upgrade, targets: list[UpgradeTarget]) -> None:
    """Step the targets in progress side by side, so ``max_unavailable`` replacements take the
    time of one: each waits on the backend (an image start, a container stop) for seconds.

    Each runs on a thread with its own database connection, closed when it is done. A caller
    inside a transaction (a test case, an atomic block) has rows other connections cannot
    see yet, so there the targets are stepped one after another on the caller's connection.
    The backends lock per instance, and each target touches only its own worker's instances.
    """
    if len(targets) < 2 or db_connection.in_atomic_block:
        for target in targets:
            TargetStep(connections, upgrade, target).run()
        return

    def step(target: UpgradeTarget) -> None:
        try:
            TargetStep(connections, upgrade, target).run()
        finally:
            db_connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="rollout") as pool:
        for _ in pool.map(step, targets):
            pass  # re-raises a step's error here, as a step in turn would


def _start_next(upgrade: Upgrade, connections: Connections) -> list[UpgradeTarget]:
    """Begin pending targets while there is room; returns those begun."""
    targets = list(upgrade.targets.all())
    begun: list[UpgradeTarget] = []
    if any(t.state == TargetState.FAILED for t in targets):
        return begun  # a failed target stops the rollout: nothing new starts
    room = upgrade.max_unavailable - sum(t.state == TargetState.RUNNING for t in targets)
    pending = [t for t in targets if t.state == TargetState.PENDING]
    for target in pending:
        if room <= 0:
            break
        worker = Worker.objects.filter(name=target.worker, deletion_requested_at__isnull=True).first()
        if worker is not None and worker.role == MemberRole.TEAM_LEADER:
            others = [t for t in targets if t.pk != target.pk]
            if any(t.state in (TargetState.PENDING, TargetState.RUNNING) for t in others):
                continue  # the leader goes last, once every worker is through
        if worker_busy(target.worker, upgrade.pk):
            continue  # a superseded rollout finishes this worker first
        now = connections.clock()
        if worker is None or worker.state != "Running" or not worker.running_image:
            # Nothing runs to replace: a worker that starts later gets the new image then.
            _finish(target, TargetState.DONE, "not running: takes the new image when it next starts", now)
            continue
        target.state, target.started_at, target.step = TargetState.RUNNING, now, ""
        target.save(update_fields=["state", "started_at", "step"])
        begun.append(target)
        room -= 1
    return begun


def _conclude(upgrade: Upgrade, connections: Connections) -> float | None:
    counts = dict(upgrade.targets.values_list("state").annotate(Count("pk")))
    if counts.get(TargetState.RUNNING):
        return float(settings.HICLAW_ROLLOUT_POLL_SECONDS)
    if upgrade.state != UpgradeState.RUNNING:
        # Paused, aborted or superseded, nothing in progress: an ended rollout's workers
        # settle (their phase leaves Updating); a paused one's wait for resume.
        if upgrade.finished:
            _requeue_workers(upgrade, connections)
        return None
    failed = upgrade.targets.filter(state=TargetState.FAILED).first()
    if failed is None and counts.get(TargetState.PENDING):
        return float(settings.HICLAW_ROLLOUT_POLL_SECONDS)  # waiting for another rollout's target
    upgrade.state = UpgradeState.FAILED if failed is not None else UpgradeState.DONE
    done, total = counts.get(TargetState.DONE, 0), sum(counts.values())
    upgrade.message = (
        f"stopped at {failed.worker}: {failed.message}" if failed else f"{done}/{total} on {upgrade.image}"
    )
    upgrade.finished_at = connections.clock()
    upgrade.save(update_fields=["state", "message", "finished_at", "updated_at"])
    _requeue_workers(upgrade, connections)
    logger.info("rollout #%s: %s", upgrade.pk, upgrade.message)
    return None


def _requeue_workers(upgrade: Upgrade, connections: Connections) -> None:
    for name in upgrade.targets.values_list("worker", flat=True):
        connections.enqueue("Worker", name)  # phases back from Updating, conditions say why


def _finish(target: UpgradeTarget, state: str, message: str, now, *, event: str = "", said: str = "") -> None:
    """Settle the target; with ``event``, an Event on the worker saying so (``said``), saved
    together with the state so a repeated look (which skips settled targets) never adds another."""
    target.state, target.message, target.finished_at = state, message, now
    with transaction.atomic():
        target.save(update_fields=["state", "message", "finished_at"])
        if event:
            events.record_on_worker(target.worker, event, said or message, warning=state == TargetState.FAILED)


def new_instance_name(worker: str, image: str) -> str:
    """The instance a rollout starts: the default name with a short digest of the image, so
    the old and the new instance can run side by side and a repeated step finds its own."""
    return f"{naming.instance_name('worker', worker)}-{hashlib.sha256(image.encode()).hexdigest()[:10]}"


@dataclasses.dataclass
class TargetStep:
    connections: Connections
    upgrade: Upgrade
    target: UpgradeTarget

    def run(self) -> None:
        worker = Worker.objects.filter(name=self.target.worker, deletion_requested_at__isnull=True).first()
        now = self.connections.clock()
        if worker is None:
            self._drop_new()
            _finish(self.target, TargetState.DONE, "worker removed", now)
            return
        try:
            if not self.target.step:
                self.ask_to_save(worker, now)
            if self.target.step == RolloutStep.SAVING and self.saved(worker, now):
                self.start_new(worker, now)
            if self.target.step == RolloutStep.STARTING:
                self.wait_ready(worker, now)
            if self.target.step == RolloutStep.CUTOVER:
                self.cut_over(worker)
        except BackendError as error:
            # The engine is down or refused: the next look tries again; timeouts still apply.
            logger.warning("rollout #%s: %s: %s", self.upgrade.pk, worker.name, error)

    @property
    def notice_id(self) -> str:
        return f"rollout-{self.upgrade.pk}-{self.target.pk}"

    def _save(self, *fields: str) -> None:
        self.target.save(update_fields=list(fields))

    # --- 1. save state ----------------------------------------------------------------
    def ask_to_save(self, worker: Worker, now) -> None:
        self.target.step, self.target.step_started_at = RolloutStep.SAVING, now
        self.target.old_instance = worker.current_instance
        self._save("step", "step_started_at", "old_instance")
        signal = json.dumps({"kind": notices.SAVE_STATE, "id": self.notice_id, "image": self.upgrade.image})
        try:
            prefix = naming.storage_prefix("worker", worker.name)
            self.connections.storage.put(prefix + SIGNAL_FILE, signal.encode())
        except StorageError as error:
            logger.warning("rollout #%s: no save-state signal for %s: %s", self.upgrade.pk, worker.name, error)
        if self.connections.matrix is None or not worker.room_id or not worker.matrix_user_id:
            return
        try:
            send_notice(self.connections, worker.room_id, worker.matrix_user_id, notices.SAVE_STATE, self.notice_id)
        except MatrixError as error:
            logger.warning("rollout #%s: no save-state notice for %s: %s", self.upgrade.pk, worker.name, error)

    def saved(self, worker: Worker, now) -> bool:
        started = self.target.step_started_at or now
        if now - started >= timedelta(seconds=settings.HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS):
            return True
        ack = notices.ack_note(notices.Notice(notices.SAVE_STATE, self.notice_id))
        return Heartbeat.objects.filter(worker=worker, received_at__gte=started, note__contains=ack).exists()

    # --- 2. the new instance ------------------------------------------------------------
    def start_new(self, worker: Worker, now) -> None:
        self.target.step, self.target.step_started_at = RolloutStep.STARTING, now
        self.target.new_instance = new_instance_name(worker.name, self.upgrade.image)
        self._save("step", "step_started_at", "new_instance")

    def ensure_new(self, worker: Worker):
        """The new instance, created (with a token of its own) unless it exists already."""
        backend, name = self.connections.backend, self.target.new_instance
        status = backend.status(name)
        if status.state == InstanceState.MISSING:
            reconciler = WorkerReconciler(self.connections)
            identity, team = reconciler.identity(worker)
            if self.target.new_token_id:  # minted by an attempt that never created the instance
                AgentToken.objects.filter(pk=self.target.new_token_id).update(revoked_at=self.connections.clock())
            token, clear = AgentToken.mint(identity, worker.name, team=team)
            self.target.new_token_id = token.pk
            self._save("new_token_id")
            spec = reconciler.instance_spec(worker, name, token=clear)
            backend.create(dataclasses.replace(spec, image=self.upgrade.image))
        elif not status.running:
            backend.start(name)
        return backend.status(name)

    def wait_ready(self, worker: Worker, now) -> None:
        status = self.ensure_new(worker)
        token_id = self.target.new_token_id or 0
        used = AgentToken.objects.filter(pk=token_id, last_used_at__isnull=False).exists()
        if status.running and used:
            self.target.step = RolloutStep.CUTOVER
            self._save("step")
            return
        limit = settings.HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS
        if now - (self.target.step_started_at or now) < timedelta(seconds=limit):
            return
        self._drop_new()
        why = "did not report" if status.running else f"is {status.state} ({status.message})"
        message = (
            f"new instance on {self.upgrade.image} {why} within {limit} s; {worker.name} keeps {self.target.from_image}"
        )
        _finish(self.target, TargetState.FAILED, message, now, event="RolloutFailed", said=self._said(message))
        logger.warning("rollout #%s: %s", self.upgrade.pk, message)

    def _drop_new(self) -> None:
        if self.target.new_instance and self.target.new_instance != self.target.old_instance:
            self.connections.backend.delete(self.target.new_instance)
        if self.target.new_token_id:
            AgentToken.objects.filter(pk=self.target.new_token_id).update(revoked_at=self.connections.clock())

    # --- 3. cutover -------------------------------------------------------------------
    def cut_over(self, worker: Worker) -> None:
        # The worker's own reconcile must not write its instance columns meanwhile.
        with resource_lock(f"Worker/{worker.name}") as held:
            if not held:
                return  # the next look finishes it
            worker.refresh_from_db()
            backend = self.connections.backend
            if self.target.old_instance and self.target.old_instance != self.target.new_instance:
                backend.delete(self.target.old_instance)
            identity, _ = WorkerReconciler(self.connections).identity(worker)
            others = Q(identity__in=AGENT_IDENTITIES[identity], subject=worker.name) & ~Q(pk=self.target.new_token_id)
            AgentToken.objects.active().filter(others).update(revoked_at=self.connections.clock())
            status = backend.status(self.target.new_instance)
            Worker.objects.filter(pk=worker.pk).update(
                instance_name=self.target.new_instance,
                running_image=self.upgrade.image,
                instance_digest=WorkerReconciler(self.connections).instance_digest(worker, self.upgrade.image),
                container_state=status.state,
                instance_started_at=status.started_at or self.connections.clock(),
            )
        said = self._said(f"{self.target.from_image or '(unknown)'} → {self.upgrade.image}")
        _finish(
            self.target,
            TargetState.DONE,
            f"on {self.upgrade.image}",
            self.connections.clock(),
            event="RolledOut",
            said=said,
        )
        self.connections.enqueue("Worker", worker.name)

    def _said(self, message: str) -> str:
        return f"rollout #{self.upgrade.pk}: {message}"


STALE_LOOKS = 5  # polls without a look before the resync queues a rollout again


def unfinished(now=None) -> list[int]:
    """Rollouts the periodic resync queues: under way (or ended with a target still in
    progress) and not looked at for ``STALE_LOOKS`` polls. One whose looks go on is left
    alone, so the resync never starts a second chain of looks beside the first."""
    stale = (now or timezone.now()) - timedelta(seconds=STALE_LOOKS * settings.HICLAW_ROLLOUT_POLL_SECONDS)
    rows = Upgrade.objects.filter(kind=Upgrade.Kind.ROLLOUT).filter(
        Q(state__in=(UpgradeState.PENDING, UpgradeState.RUNNING)) | Q(targets__state=TargetState.RUNNING)
    )
    rows = rows.filter(Q(looked_at__isnull=True) | Q(looked_at__lt=stale))
    return list(rows.values_list("pk", flat=True).distinct())
