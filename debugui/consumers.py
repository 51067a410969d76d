"""Live status for dashboard pages over a WebSocket (docs/dashboard.md, "Live updates").

One consumer serves five routes: ``/ws/overview/`` (team summaries),
``/ws/teams/<name>/`` (a team, its members and its DebugWorkers),
``/ws/workers/<name>/`` (one worker), and the list pages ``/ws/workers/``
(every visible worker, or those of ``?team=``) and ``/ws/debugworkers/``. It
refuses anonymous users and anything the policy does not let the login see,
sends a full snapshot on every (re)connect, then forwards ``worker.changed`` /
``team.changed`` / ``debugworker.changed`` notices (controller.services.live)
by re-reading the rows through ``policy.visible``: a notice names what
changed, never its data, and is never trusted beyond that. A row the page was
not shown yet is sent like any other; the page fetches its HTML over HTTP (with
the same policy), and a row that left the login's view is reported gone.

Access is not fixed at connect: before every push and every request the
login's principal is derived again from its session (debugui.access), and the
socket is closed with 4401 (login gone) or 4403 (page no longer visible).
Refusals accept first and then close, because a browser sees the close code
only of a socket that was accepted (a refused handshake is a bare 1006).

Notices arriving close together (heartbeats of a busy team) are coalesced
into one read per ``COALESCE_SECONDS``. The Upgrades page's consumer
(debugui.upgrades_consumer) reuses all of this with rows of its own, through
``_has_pending`` / ``_take_pending`` / ``_read_pending``.
"""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from controller import policy
from controller.models import DebugWorker, Team, Worker
from controller.services import live
from debugui import access, queries

logger = logging.getLogger(__name__)

COALESCE_SECONDS = 0.2
# Close codes (4000-4999 are the application's): the page stops reconnecting on these.
UNAUTHENTICATED, FORBIDDEN, NOT_FOUND = 4401, 4403, 4404


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Any other WebSocket path: closed with ``NOT_FOUND`` rather than a routing traceback."""

    async def connect(self) -> None:
        await self.close(code=NOT_FOUND)


class LiveStatusConsumer(AsyncJsonWebsocketConsumer):
    def __init__(self, *args, page: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Given by the route (``as_asgi(page=...)``) for the list pages: "workers" or "debugworkers".
        self.page = page

    async def connect(self) -> None:
        live.serve_on(asyncio.get_running_loop())
        route = self.scope["url_route"]["kwargs"]
        self.team, self.worker = route.get("team", ""), route.get("worker", "")
        self.list_filters = queries.list_filter(self.scope.get("query_string", b""))
        self.known_debugworkers: set[str] = set()
        self.pending_debugworkers: set[str] = set()
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        self.known_workers: set[str] = set()
        self.pending_workers: set[str] = set()
        self.pending_teams: set[str] = set()
        self.flush_task: asyncio.Task | None = None
        self.closing = False
        await self.accept()
        # Joined before the snapshot is read, so no change falls between the two; what
        # the groups bring is filtered by the policy at each push, like everything else.
        self.subscribed = self._groups_of_route()
        for group in self.subscribed:
            await self.channel_layer.group_add(group, self.channel_name)
        refused, snapshot = await database_sync_to_async(self._if_allowed)(self._snapshot)
        await (self._refuse(refused) if refused else self.send_json(snapshot))

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "subscribed", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        task = getattr(self, "flush_task", None)
        if task is not None:
            task.cancel()

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Frames that are not JSON text (binary, malformed, absurdly nested) are ignored:
        the base class would raise on them and drop the connection with a traceback."""
        try:
            content = json.loads(text_data) if text_data else None
        except (ValueError, RecursionError):
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        """Pages only listen; a client may ask for a fresh snapshot."""
        if isinstance(content, dict) and content.get("type") == "snapshot" and not self.closing:
            refused, snapshot = await database_sync_to_async(self._if_allowed)(self._snapshot)
            await (self._refuse(refused) if refused else self.send_json(snapshot))

    async def _refuse(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    # --- notices from controller.services.live -----------------------------------------
    async def worker_changed(self, event: dict) -> None:
        worker, team = str(event.get("worker") or ""), str(event.get("team") or "")
        if worker and not (self.team or self.worker or self.page == "workers"):
            worker = ""  # the overview shows teams only, the DebugWorkers list no workers
        self._pending(worker, team)

    async def team_changed(self, event: dict) -> None:
        self._pending("", str(event.get("team") or ""))

    async def debugworker_changed(self, event: dict) -> None:
        name = str(event.get("debugworker") or "")
        if name and not self.closing and (self.team or self.page == "debugworkers"):
            self.pending_debugworkers.add(name)
            self._schedule_flush()

    async def resources_changed(self, event: dict) -> None:
        """A bulk change (an apply; ``live.coalesced``) names all it changed in one message on
        the ``changes`` group every page joins: what this page's own groups would have carried
        is taken like single notices; a change too big to name is answered with a snapshot."""
        if event.get("refresh"):
            await self.receive_json({"type": "snapshot"})
            return
        for worker, team in event.get("workers") or []:
            if self._hears(worker, team):
                await self.worker_changed({"worker": worker, "team": team})
        for team in event.get("teams") or []:
            if self._hears("", team):
                await self.team_changed({"team": team})
        for debugworker, team in event.get("debugworkers") or []:
            if self._hears("", team):
                await self.debugworker_changed({"debugworker": debugworker, "team": team})

    def _hears(self, worker: str, team: str) -> bool:
        """Whether this page's own groups carry a notice about ``worker`` ("" for none) of ``team``."""
        if self.worker:
            return bool(worker) and worker == self.worker
        return not self.team or team == self.team

    async def upgrade_changed(self, event: dict) -> None:
        """Team groups carry upgrade notices too; these pages show no upgrades (the
        Upgrades page's consumer, debugui.upgrades_consumer, does)."""

    def _pending(self, worker: str, team: str) -> None:
        if self.closing:
            return
        if worker:
            self.pending_workers.add(worker)
        if team and not self.worker and not self.page:
            self.pending_teams.add(team)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._has_pending() and self.flush_task is None:
            self.flush_task = asyncio.ensure_future(self._flush())

    def _has_pending(self) -> bool:
        return bool(self.pending_workers or self.pending_teams or self.pending_debugworkers)

    def _take_pending(self) -> tuple:
        """What to read for the next push (the arguments of ``_updates``), and nothing pending after."""
        pending = self.pending_workers, self.pending_teams, self.pending_debugworkers
        self.pending_workers, self.pending_teams, self.pending_debugworkers = set(), set(), set()
        return pending

    async def _flush(self) -> None:
        try:
            while self._has_pending():
                await asyncio.sleep(COALESCE_SECONDS)
                pending = self._take_pending()
                refused, messages = await database_sync_to_async(self._if_allowed)(self._read_pending, pending)
                if refused:
                    await self._refuse(refused)
                    return
                for message in messages:
                    await self.send_json(message)
        except Exception:  # a failed read must not kill the socket; the next notice or reconnect heals
            logger.warning("live update for %s failed", self.scope.get("path"), exc_info=True)
        finally:
            self.flush_task = None

    # --- database side (run in a thread) ------------------------------------------------
    def _if_allowed(self, read, *args) -> tuple[int, object]:
        """(close code, None) when the login may no longer see this page, else (0, ``read(*args)``).

        The principal is derived afresh each time, so what ``read`` returns is filtered
        by the access the login has now, not by what it had at connect."""
        self.principal = access.principal_now(self.session_key)
        if not self.principal.is_authenticated:
            return UNAUTHENTICATED, None
        if not self._may_see_route():
            return FORBIDDEN, None
        return 0, read(*args)

    def _may_see_route(self) -> bool:
        if self.team:
            return policy.visible(self.principal, Team.objects.filter(name=self.team)).exists()
        if self.worker:
            return policy.visible(self.principal, Worker.objects.filter(name=self.worker)).exists()
        # A login with no team role may still use DebugWorkers named for it (their allowedUsers).
        return self.page == "debugworkers" or self.principal.identity != policy.NOBODY

    def _groups_of_route(self) -> list[str]:
        """The team's or the worker's own group; the overview and the list pages hear every change.
        And ``changes``, where a bulk change's one message goes (``resources_changed``)."""
        if self.team:
            return [live.team_group(self.team), live.CHANGES_GROUP]
        return [live.worker_group(self.worker) if self.worker else live.OVERVIEW_GROUP, live.CHANGES_GROUP]

    def _shown_workers(self):
        """The workers this page lists, for the login now (of the team, or of the list's filter)."""
        rows = queries.visible_workers(self.principal)
        if self.team:
            return rows.filter(team__name=self.team)
        if self.worker:
            return rows.filter(name=self.worker)
        return queries.filtered_workers(rows, self.list_filters)[0] if self.page == "workers" else rows.none()

    def _shown_debugworkers(self):
        if self.team:
            return policy.visible(self.principal, DebugWorker.objects.filter(team_name=self.team))
        if self.page == "debugworkers":
            return policy.visible_or_usable(self.principal, DebugWorker.objects.all())
        return DebugWorker.objects.none()

    def _snapshot(self) -> dict:
        if self.team:
            teams = queries.read_teams(self.principal, {self.team})
        elif self.worker or self.page:
            teams = []
        else:
            teams = list(queries.teams_with_health(self.principal))
        workers = list(self._shown_workers())
        debugworkers = list(self._shown_debugworkers())
        self.known_workers = {worker.name for worker in workers}
        self.known_debugworkers = {debugworker.name for debugworker in debugworkers}
        return {
            "type": "snapshot",
            "now": timezone.now().isoformat(),
            "teams": [queries.team_row(team) for team in teams],
            "workers": [queries.worker_row(worker) for worker in workers],
            "debugworkers": [queries.debugworker_row(debugworker) for debugworker in debugworkers],
        }

    def _read_pending(self, pending: tuple) -> list[dict]:
        """The messages for what ``_take_pending`` handed over."""
        return self._updates(*pending)

    def _updates(self, workers: set[str], teams: set[str], debugworkers: set[str] | None = None) -> list[dict]:
        messages = []
        if workers:
            rows = list(self._shown_workers().filter(name__in=workers))
            for worker in rows:
                messages.append({"type": "worker", "worker": queries.worker_row(worker)})
            seen = {worker.name for worker in rows}
            # Only rows this page was shown may be reported gone: other names are none of its business.
            for name in sorted((workers & self.known_workers) - seen):
                messages.append({"type": "worker.gone", "name": name})
            self.known_workers = (self.known_workers - workers) | seen
        if debugworkers:
            found = list(self._shown_debugworkers().filter(name__in=debugworkers))
            messages += [{"type": "debugworker", "debugworker": queries.debugworker_row(d)} for d in found]
            seen = {debugworker.name for debugworker in found}
            for name in sorted((debugworkers & self.known_debugworkers) - seen):
                messages.append({"type": "debugworker.gone", "name": name})
            self.known_debugworkers = (self.known_debugworkers - debugworkers) | seen
        if teams:
            scope = {self.team} if self.team else teams
            for team in queries.read_teams(self.principal, teams & scope):
                messages.append({"type": "team", "team": queries.team_row(team)})
        return messages
