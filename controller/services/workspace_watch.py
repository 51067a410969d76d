"""Live changes of a DebugWorker's workspaces: one watcher per DebugWorker, whatever the viewers.

The workspace browser's consumers (debugui/workspace_consumer.py) call
``subscribe`` when a page opens and ``unsubscribe`` when it closes. The first
viewer of a DebugWorker starts an asyncio task in this process; the last one
to leave stops it. ``HICLAW_DEBUG_WATCH_MS`` after each pass (or as long as
the pass took, if that is longer) the task lists the
DebugWorker's sources (controller.services.workspace_browser) in a thread,
compares each file's etag with the previous pass, and sends the differences
to the Channels group ``debug-<name>`` as one ``workspace.changes`` message.
Listing works the same on filesystem and S3 storage, and its cost depends on
the number of files, not on the number of open pages.

The group also gets ``access.check`` whenever the DebugWorker's row changes
(its allowedUsers, its mounts, its deletion) and every
``ACCESS_RECHECK_SECONDS``, so each consumer asks the policy again and closes
a socket whose login lost access even when no file changes.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from controller.clients.storage import get_storage
from controller.models import DebugWorker
from controller.services import workspace_browser
from controller.services.workspace_browser import Entry, Source

logger = logging.getLogger(__name__)

ACCESS_RECHECK_SECONDS = 5.0
EVENTS_PER_MESSAGE = 500  # keeps a message well under the Redis channel layer's size limit

State = dict[Source, dict[str, Entry]]


def group(name: str) -> str:
    """The Channels group of a DebugWorker's viewers."""
    return f"debug-{name}"


def interval() -> float:
    return max(settings.HICLAW_DEBUG_WATCH_MS, 10) / 1000


@dataclass(eq=False)
class Watch:
    """The watcher of one DebugWorker in one event loop; ``state`` is what its last pass listed."""

    name: str
    viewers: int = 0
    state: State = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None


# Listings of all watchers of this process; a few threads, as a pass waits on storage.
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="workspace-watch")
# Keyed by loop too: an asyncio task and its event belong to the loop that made them.
_watches: dict[tuple[asyncio.AbstractEventLoop, str], Watch] = {}


async def subscribe(name: str) -> Watch:
    """Count one more viewer of ``name``; returns once its first listing is done."""
    key = (asyncio.get_running_loop(), name)
    watch = _watches.get(key)
    if watch is None:
        watch = _watches[key] = Watch(name)
        watch.task = asyncio.ensure_future(_run(watch))
    watch.viewers += 1
    await watch.ready.wait()
    return watch


def unsubscribe(name: str) -> None:
    """One viewer fewer; the last one stops the watcher."""
    key = (asyncio.get_running_loop(), name)
    watch = _watches.get(key)
    if watch is None:
        return
    watch.viewers -= 1
    if watch.viewers <= 0:
        del _watches[key]
        if watch.task is not None:
            watch.task.cancel()


def watching() -> list[str]:
    """The DebugWorkers watched in this loop (for tests and benchmarks)."""
    loop = asyncio.get_running_loop()
    return sorted(name for (owner, name) in _watches if owner is loop)


async def _run(watch: Watch) -> None:
    layer = get_channel_layer()
    loop = asyncio.get_running_loop()
    row, checked_at = None, loop.time()
    while True:
        started = loop.time()
        try:
            seen, listed = await database_sync_to_async(_list, thread_sensitive=False)(watch.name)
            # The first pass is the tree the first viewer's snapshot shows, not a change.
            events = _diff(watch.state, listed) if watch.ready.is_set() else []
            watch.state = listed
            watch.ready.set()
            for start in range(0, len(events), EVENTS_PER_MESSAGE):
                chunk = events[start : start + EVENTS_PER_MESSAGE]
                await layer.group_send(group(watch.name), {"type": "workspace.changes", "events": chunk})
            if seen != row or loop.time() - checked_at >= ACCESS_RECHECK_SECONDS:
                row, checked_at = seen, loop.time()
                await layer.group_send(group(watch.name), {"type": "access.check"})
        except asyncio.CancelledError:
            raise
        except Exception:  # a storage or database hiccup: the next pass tries again
            logger.warning("workspace watch of debugworker/%s failed", watch.name, exc_info=True)
            watch.ready.set()
        # A pass over a large workspace may take longer than the interval: pausing at least
        # as long as it took keeps one watcher below half a core, however many files it lists.
        await asyncio.sleep(max(interval(), loop.time() - started))


def _list(name: str) -> tuple[object, State]:
    """(what of its row matters to access, its sources' listings); run in a thread."""
    debugworker = DebugWorker.objects.filter(name=name).first()
    if debugworker is None:
        return None, {}
    seen = (debugworker.pk, debugworker.spec, debugworker.mounted_workspaces, debugworker.deletion_requested_at)
    storage = get_storage()
    sources = workspace_browser.sources(debugworker)
    # The sources are listed side by side: on S3 each listing is a round trip or more.
    listings = _pool.map(lambda source: workspace_browser.listing(storage, source), sources)
    return seen, dict(zip(sources, listings, strict=True))


def _diff(before: State, after: State) -> list[dict]:
    events: list[dict] = []
    for source in [*before, *(source for source in after if source not in before)]:
        events += workspace_browser.changes(source, before.get(source, {}), after.get(source, {}))
    return events


def snapshot(watch: Watch) -> list[dict]:
    """The tree as the last pass listed it: one entry per source, its files in path order."""
    return [
        {
            "area": source.area,
            "target": source.target,
            "label": source.label,
            "files": [{"path": e.path, "size": e.size, "etag": e.etag} for e in entries.values()],
        }
        for source, entries in watch.state.items()
    ]
