"""Asking for a reconcile: the one way any layer queues one.

The Celery task is sent by its name, so the services and reconcilers that
ask for reconciles need no import of ``controller.tasks`` (which sits above
them and runs the reconcilers). A signature resolves to the registered task
when this process has it (so eager mode in tests runs it inline) and is sent
to the broker by name otherwise.
"""

from __future__ import annotations

import math
import time

from celery import current_app
from django.db import transaction

RECONCILE_TASK = "controller.tasks.reconcile_resource"
# Many resources of one kind in one message (controller.tasks.reconcile_many), whose passes
# run one after another in one Celery thread: a bulk apply of N resources sends at most
# RECONCILE_SPREAD messages, or ceil(N / RECONCILE_CHUNK) when more are needed to keep each
# under RECONCILE_CHUNK names, instead of N. The spread keeps the Celery threads (4 per
# worker process in the chart, 2 embedded) busy in parallel when N is small.
RECONCILE_MANY_TASK = "controller.tasks.reconcile_many"
RECONCILE_CHUNK = 100
RECONCILE_SPREAD = 8
ROLLOUT_TASK = "controller.tasks.advance_rollout"
# A message header with the Unix time the task is due (queued, plus any countdown): the
# task observes how late it started (hiclaw_reconcile_queue_lag_seconds). A header, not an
# argument, so a worker still running older code takes the message as it always did.
DUE_HEADER = "hiclaw_due_at"


def _send(signature, countdown: float | None) -> None:
    signature.apply_async(countdown=countdown, headers={DUE_HEADER: time.time() + (countdown or 0)})


def enqueue(kind: str, name: str, *, from_resync: bool = False, countdown: float | None = None) -> None:
    """Queue a reconcile of ``kind``/``name`` now."""
    kwargs = {"from_resync": True} if from_resync else {}
    _send(current_app.signature(RECONCILE_TASK, args=(kind, name), kwargs=kwargs), countdown)


def enqueue_many(kind: str, names: list[str], *, countdown: float | None = None) -> None:
    """Queue reconciles of ``kind`` for every one of ``names`` now, in chunks of about equal
    size (see ``RECONCILE_SPREAD``); a chunk of one name goes as the one-resource task."""
    count = max(math.ceil(len(names) / RECONCILE_CHUNK), min(len(names), RECONCILE_SPREAD))
    size = math.ceil(len(names) / count) if count else 0
    for start in range(0, len(names), size or 1):
        chunk = list(names[start : start + size])
        if len(chunk) == 1:
            enqueue(kind, chunk[0], countdown=countdown)
        else:
            _send(current_app.signature(RECONCILE_MANY_TASK, args=(kind, chunk)), countdown)


def request_reconciles(kind: str, names: list[str]) -> None:
    """Queue reconciles of ``kind``/``names`` once the current transaction commits, in a
    bounded number of messages (``enqueue_many``); nothing is queued if it rolls back."""
    unique = list(dict.fromkeys(names))  # each once, in the order asked
    if unique:
        transaction.on_commit(lambda: enqueue_many(kind, unique))


def send_after_commit(task: str, *args: object) -> None:
    """Queue the Celery task named ``task`` once the current transaction commits."""
    transaction.on_commit(lambda: current_app.signature(task, args=args).apply_async())


def request_reconcile(resource) -> None:
    """Queue a reconcile of ``resource`` once the current transaction commits, so the pass
    never sees uncommitted state and a rolled-back change queues nothing."""
    kind, name = resource.kind, resource.name
    transaction.on_commit(lambda: enqueue(kind, name))


def enqueue_rollout(upgrade_id: int, *, countdown: float | None = None) -> None:
    """Queue a step of rollout ``upgrade_id`` (after the current transaction commits, if any)."""
    signature = current_app.signature(ROLLOUT_TASK, args=(upgrade_id,))
    transaction.on_commit(lambda: _send(signature, countdown))
