"""A Celery worker stand-in for tests where reconciles are queued from other threads.

Eager Celery runs a queued reconcile inline and a requeue (``requeue_after``: the
instance is still starting, another pass holds the lock, SQLite said "table is locked")
at once and recursively, until Python's recursion limit ends the chain and the resource
is left half-way. Here queued reconciles run in one thread of their own, as a Celery
worker runs them, and a requeue comes back after its countdown (at most a second, to keep
tests short). Other tasks (status writes) still run eagerly where they are queued.
"""

from __future__ import annotations

import queue
import threading

from django.db import OperationalError, close_old_connections, connection

from controller import reconcile_queue, reconcilers

MAX_COUNTDOWN = 1.0


class ReconcileWorker:
    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="test-reconcile-worker", daemon=True)

    def enqueue(self, kind: str, name: str, *, from_resync: bool = False, countdown: float | None = None) -> None:
        if countdown:
            timer = threading.Timer(min(countdown, MAX_COUNTDOWN), self.queue.put, args=((kind, name),))
            timer.daemon = True
            timer.start()
        else:
            self.queue.put((kind, name))

    def enqueue_many(self, kind: str, names: list[str], *, countdown: float | None = None) -> None:
        for name in names:
            self.enqueue(kind, name, countdown=countdown)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    kind, name = self.queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                close_old_connections()
                try:
                    result = reconcilers.reconcile(kind, name)
                except OperationalError:  # SQLite's table lock: a Celery task would be retried
                    self.enqueue(kind, name, countdown=0.2)
                    continue
                if result.requeue_after is not None:
                    self.enqueue(kind, name, countdown=result.requeue_after)
        finally:
            connection.close()


def start(monkeypatch) -> ReconcileWorker:
    """Send every reconcile queued from now on to a new worker thread; stop it with ``stop.set()``."""
    worker = ReconcileWorker()
    monkeypatch.setattr(reconcile_queue, "enqueue", worker.enqueue)
    monkeypatch.setattr(reconcile_queue, "enqueue_many", worker.enqueue_many)
    worker.thread.start()
    return worker
