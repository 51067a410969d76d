"""Live status for browsers: after a change commits, tell the Channels groups watching it.

Messages name what changed, never its data: the dashboard's consumer re-reads
the row and checks the same authorization policy before sending anything to
a browser. Groups: ``overview`` (every change; the list pages listen there too),
``team-<name>`` (a team, its members and its DebugWorkers), ``worker-<name>`` (one
worker), ``upgrades`` (every push and rollout, for the Upgrades page; a team's also go
to its team group). Sending is best effort — a page that missed a message is corrected
by the snapshot it gets on reconnect.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

OVERVIEW_GROUP = "overview"
UPGRADES_GROUP = "upgrades"

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


def worker_changed(name: str, team: str = "") -> None:
    groups = [OVERVIEW_GROUP, worker_group(name), *([team_group(team)] if team else [])]
    _after_commit(groups, {"type": "worker.changed", "worker": name, "team": team})


def team_changed(team: str) -> None:
    _after_commit([OVERVIEW_GROUP, team_group(team)], {"type": "team.changed", "team": team})


def debugworker_changed(name: str, team: str = "") -> None:
    """A DebugWorker was created, changed or deleted: the DebugWorkers list and its team's page."""
    groups = [OVERVIEW_GROUP, *([team_group(team)] if team else [])]
    _after_commit(groups, {"type": "debugworker.changed", "debugworker": name, "team": team})


def upgrade_changed(upgrade_id: int, team: str = "") -> None:
    """An upgrade or one of its targets changed. Sent by the model signals
    (controller.services.upgrade_notices) on every save; a queryset ``update()`` sends
    none, so code that moves upgrades with one calls this itself."""
    groups = [UPGRADES_GROUP, *([team_group(team)] if team else [])]
    _after_commit(groups, {"type": "upgrade.changed", "upgrade": upgrade_id, "team": team})


def _after_commit(groups: list[str], message: dict) -> None:
    transaction.on_commit(lambda: _send(groups, message))


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
        for group in groups:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # a broken channel layer must not break a reconcile or an API call
        logger.warning("live update %s not sent", message.get("type"), exc_info=True)
