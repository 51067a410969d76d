"""Live status for browsers: after a change commits, tell the Channels groups watching it.

Messages name what changed, never its data: the dashboard's consumer re-reads
the row and checks the same authorization policy before sending anything to
a browser. Groups: ``overview`` (every change; the list pages listen there too),
``team-<name>`` (a team, its members and its DebugWorkers), ``worker-<name>`` (one
worker), ``upgrades`` (every push and rollout, for the Upgrades page; a team's also go
to its team group), per kind of record shown on pages of its own (``record_group``:
``managers``, ``humans``, ``debugworkers``), which the Managers and Humans pages and a
DebugWorker's page hear, and ``changes``, which every live status page hears too: a bulk
change (an apply) sends there one ``resources.changed`` message naming all the workers,
teams and DebugWorkers it changed (``coalesced``), instead of a message per resource per
group. Sending is best effort — a page that missed a message is corrected by the snapshot
it gets on reconnect.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

OVERVIEW_GROUP = "overview"
UPGRADES_GROUP = "upgrades"
CHANGES_GROUP = "changes"
# A coalesced message names at most this many resources; a bigger change tells pages to
# take a fresh snapshot instead (the message stays small, and so does each page's re-read).
COALESCE_LIMIT = 200

# The event loop serving WebSockets in this process (embedded mode). The
# in-memory channel layer's queues belong to that loop, so messages from
# other threads (in-process Celery, request threads) are handed to it.
_serving_loop: asyncio.AbstractEventLoop | None = None


def serve_on(loop: asyncio.AbstractEventLoop) -> None:
    """Called by the consumers: the loop that delivers in-memory messages to browsers."""
    global _serving_loop
    _serving_loop = loop


def team_group(team: str) -> str:
    return f"team-{team}"


def worker_group(worker: str) -> str:
    return f"worker-{worker}"


def record_group(kind: str) -> str:
    """The group of every Manager, Human or DebugWorker ("manager", "human", "debugworker")."""
    return f"{kind}s"


def record_changed(kind: str, name: str) -> None:
    """A Manager, Human (or its dashboard login) or DebugWorker was created, changed or deleted."""
    _after_commit([record_group(kind)], {"type": "record.changed", "kind": kind, "name": name})


def worker_changed(name: str, team: str = "") -> None:
    groups = [OVERVIEW_GROUP, worker_group(name), *([team_group(team)] if team else [])]
    _after_commit(groups, {"type": "worker.changed", "worker": name, "team": team})


def team_changed(team: str) -> None:
    _after_commit([OVERVIEW_GROUP, team_group(team)], {"type": "team.changed", "team": team})


def debugworker_changed(name: str, team: str = "") -> None:
    """A DebugWorker was created, changed or deleted: the DebugWorkers list and its team's page."""
    groups = [OVERVIEW_GROUP, *([team_group(team)] if team else [])]
    _after_commit(groups, {"type": "debugworker.changed", "debugworker": name, "team": team})
    record_changed("debugworker", name)


def upgrade_changed(upgrade_id: int, team: str = "") -> None:
    """An upgrade or one of its targets changed. Sent by the model signals
    (controller.services.upgrade_notices) on every save; a queryset ``update()`` sends
    none, so code that moves upgrades with one calls this itself."""
    groups = [UPGRADES_GROUP, *([team_group(team)] if team else [])]
    _after_commit(groups, {"type": "upgrade.changed", "upgrade": upgrade_id, "team": team})


class NoticeBatch:
    """The notices of one transaction (at one savepoint depth), sent by one after-commit callback.

    A transaction that saves a worker several times (an apply, a reconcile) would
    otherwise queue one callback per save, each a message to every group; here
    repeats collapse and the rest go together. A batch is tied to the savepoints
    open when it was made: a notice at another depth starts its own batch, so a
    rolled-back savepoint discards only the notices made inside it."""

    def __init__(self, savepoints: list[str]):
        self.savepoints = savepoints
        self.messages: dict[str, tuple[list[str], dict]] = {}
        self.sent = False

    def add(self, groups: list[str], message: dict) -> None:
        self.messages.setdefault(json.dumps([groups, message], sort_keys=True), (groups, message))

    def __call__(self) -> None:
        self.sent = True  # a later notice starts a new batch
        for groups, message in self.messages.values():
            _send(groups, message)


class Coalesced:
    """The worker, team and DebugWorker notices of one bulk change, sent after commit as one
    ``resources.changed`` message to ``CHANGES_GROUP`` (or, past ``COALESCE_LIMIT`` names,
    one ``refresh``). Other notices (upgrades, ...) go their usual way."""

    def __init__(self) -> None:
        self.workers: dict[str, str] = {}
        self.debugworkers: dict[str, str] = {}
        self.teams: set[str] = set()

    def take(self, message: dict) -> bool:
        kind, team = message.get("type"), str(message.get("team") or "")
        if kind == "worker.changed":
            self.workers[message["worker"]] = team
        elif kind == "debugworker.changed":
            self.debugworkers[message["debugworker"]] = team
        elif kind == "team.changed":
            self.teams.add(team)
        else:
            return False
        if team:
            self.teams.add(team)
        return True

    def message(self) -> dict:
        if len(self.workers) + len(self.debugworkers) + len(self.teams) > COALESCE_LIMIT:
            return {"type": "resources.changed", "refresh": True}
        return {
            "type": "resources.changed",
            "workers": sorted([name, team] for name, team in self.workers.items()),
            "debugworkers": sorted([name, team] for name, team in self.debugworkers.items()),
            "teams": sorted(self.teams),
        }

    def __call__(self) -> None:
        _send([CHANGES_GROUP], self.message())


_coalescing: ContextVar[Coalesced | None] = ContextVar("hiclaw_live_coalescing", default=None)


@contextmanager
def coalesced() -> Iterator[None]:
    """Within this block, worker/team/DebugWorker notices of this thread are gathered and
    sent as one message after the transaction commits (nothing if it rolls back)."""
    collector = Coalesced()
    token = _coalescing.set(collector)
    try:
        yield
    finally:
        _coalescing.reset(token)
    if collector.workers or collector.debugworkers or collector.teams:
        if transaction.get_connection().in_atomic_block:
            transaction.on_commit(collector)
        else:
            collector()


# The batch of the ``held_back`` block running in this thread, if any.
_held = threading.local()


@contextmanager
def held_back() -> Iterator[None]:
    """Send the notices of the block once, at its end, repeats collapsed. A reconcile pass
    saves its row after each step (each save a notice to every group of the worker): a
    browser needs one notice per pass, and each send costs a channel-layer round trip."""
    if getattr(_held, "batch", None) is not None:
        yield  # an outer block sends them
        return
    _held.batch = NoticeBatch([])
    try:
        yield
    finally:
        batch, _held.batch = _held.batch, None
        batch()


def _after_commit(groups: list[str], message: dict) -> None:
    collector = _coalescing.get()
    if collector is not None and collector.take(message):
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        held = getattr(_held, "batch", None)
        if held is not None:
            held.add(groups, message)  # committed already; sent when the block ends
            return
        _send(groups, message)  # autocommit: what changed is already committed
        return
    batch: NoticeBatch | None = getattr(connection, "hiclaw_live_batch", None)
    queued = batch is not None and not batch.sent and any(entry[1] is batch for entry in connection.run_on_commit)
    if batch is None or not queued or batch.savepoints != connection.savepoint_ids:
        batch = NoticeBatch(list(connection.savepoint_ids))
        connection.hiclaw_live_batch = batch
        transaction.on_commit(batch)
    batch.add(groups, message)


def _send(groups: list[str], message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = _serving_loop
        if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running():
            for group in groups:
                asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            return
        if isinstance(layer, InMemoryChannelLayer):
            if loop is None:
                return  # no socket was ever served here: no group has a member
            async_to_sync(_send_to_groups)(layer, groups, message)  # in the layer when this returns
            return
        _Sender.of_process().send(layer, groups, message)
    except Exception:  # a broken channel layer must not break a reconcile or an API call
        logger.warning("live update %s not sent", message.get("type"), exc_info=True)


class _Sender:
    """One event loop per process, in a thread of its own, for a layer over the network
    (Redis): the layer keeps its connections per loop, so sends reuse them, where
    ``async_to_sync`` would run each send in a new loop, opening (and closing) a connection
    each time: several milliseconds, paid by every reconcile pass. The caller does not wait;
    sends go one at a time, in order (a burst, such as an apply of many workers, would
    otherwise ask the layer for a connection each), and those still waiting when the process
    exits are given a few seconds (a ``manage.py`` command's notices). A forked child makes
    its own."""

    EXIT_WAIT_SECONDS = 5.0
    _current: _Sender | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.turn: asyncio.Lock | None = None  # made in the loop, at the first send
        self.pending: set[concurrent.futures.Future] = set()
        threading.Thread(target=self.loop.run_forever, name="live-notices", daemon=True).start()
        atexit.register(self.finish)

    @classmethod
    def of_process(cls) -> _Sender:
        with cls._guard:
            if cls._current is None or cls._current.pid != os.getpid():
                cls._current = cls()
            return cls._current

    def send(self, layer, groups: list[str], message: dict) -> None:
        sent = asyncio.run_coroutine_threadsafe(self._in_turn(layer, groups, message), self.loop)
        self.pending.add(sent)
        sent.add_done_callback(functools.partial(self._done, message.get("type")))

    async def _in_turn(self, layer, groups: list[str], message: dict) -> None:
        self.turn = self.turn or asyncio.Lock()
        async with self.turn:
            await _send_to_groups(layer, groups, message)

    def _done(self, kind: str | None, sent: concurrent.futures.Future) -> None:
        self.pending.discard(sent)
        if not sent.cancelled() and sent.exception() is not None:
            logger.warning("live update %s not sent", kind, exc_info=sent.exception())

    def finish(self) -> None:
        if self.pid == os.getpid():
            concurrent.futures.wait(list(self.pending), timeout=self.EXIT_WAIT_SECONDS)


async def _send_to_groups(layer, groups: list[str], message: dict) -> None:
    for group in groups:
        await layer.group_send(group, message)
