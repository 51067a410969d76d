"""The workspace browser's WebSocket, ``/ws/debug/<name>/`` (docs/dashboard.md, "Workspace browser").

On connect it checks, as the page does, that the login may use the DebugWorker
(``policy.may_use``), then joins the group ``debug-<name>``, subscribes to the
one watcher of that DebugWorker in this process (controller.services.workspace_watch)
and sends the tree that watcher last listed. After that it forwards the
watcher's change events and answers ``{"type": "open", "area", "target", "path"}``
with the viewer fragment of that file (the same one the page's fragment URL
serves), every path resolved by ``workspace_browser.key_of``.

Access is asked again before every request and every push, and whenever the
watcher says the DebugWorker's row changed (``access.check``): a login that
lost access gets the socket closed — 4401 when signed out, 4404 when it may not
use the DebugWorker (as for one that does not exist). Refusals accept first and
then close, so the browser sees the code (see debugui/consumers.py).
"""

from __future__ import annotations

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from controller import policy
from controller.models import DebugWorker
from controller.services import workspace_watch
from debugui import access, workspaces
from debugui.consumers import NOT_FOUND, UNAUTHENTICATED

logger = logging.getLogger(__name__)
MAX_REQUEST_CHARS = 4096  # an open request is a few names; anything longer is not one


class WorkspaceConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.name = str(self.scope["url_route"]["kwargs"]["name"])
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        self.closing = False
        self.subscribed = False
        await self.accept()
        if await self._refused():
            return
        # Joined before the tree is read, so no change falls between the two.
        await self.channel_layer.group_add(workspace_watch.group(self.name), self.channel_name)
        self.subscribed = True
        watch = await workspace_watch.subscribe(self.name)
        if not self.closing:
            await self.send_json({"type": "snapshot", "sources": workspace_watch.snapshot(watch)})

    async def disconnect(self, code: int) -> None:
        await self._leave()

    async def _leave(self) -> None:
        """Stop receiving the watcher's changes (at disconnect, or as soon as access is refused)."""
        if getattr(self, "subscribed", False):
            self.subscribed = False
            await self.channel_layer.group_discard(workspace_watch.group(self.name), self.channel_name)
            workspace_watch.unsubscribe(self.name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Frames that are not small JSON text are ignored rather than raising in the base class."""
        if not text_data or len(text_data) > MAX_REQUEST_CHARS:
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if self.closing or not isinstance(content, dict) or content.get("type") != "open":
            return
        request = [content.get(field) for field in ("area", "target", "path")]
        if not all(isinstance(value, str) for value in request):
            await self.send_json({"type": "error", "message": "area, target and path must be text"})
            return
        code, html = await database_sync_to_async(self._open)(*request)
        if code:
            await self._close(code)
            return
        area, target, path = request
        await self.send_json({"type": "file", "area": area, "target": target, "path": path, "html": html})

    # --- messages from the watcher ---------------------------------------------------------
    async def workspace_changes(self, event: dict) -> None:
        if self.closing or await self._refused():
            return
        for change in event.get("events", []):
            await self.send_json(change)

    async def access_check(self, event: dict) -> None:
        if not self.closing:
            await self._refused()

    # --- access --------------------------------------------------------------------------------
    async def _refused(self) -> bool:
        """Close the socket when the login may no longer use the DebugWorker; True if closed."""
        code, _ = await database_sync_to_async(self._allowed)()
        if code:
            await self._close(code)
        return bool(code)

    async def _close(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)
        await self._leave()

    def _allowed(self) -> tuple[int, DebugWorker | None]:
        principal = access.principal_now(self.session_key)
        if not principal.is_authenticated:
            return UNAUTHENTICATED, None
        debugworker = DebugWorker.objects.filter(name=self.name).first()
        if debugworker is None or not policy.may_use(principal, debugworker):
            return NOT_FOUND, None
        return 0, debugworker

    def _open(self, area: str, target: str, path: str) -> tuple[int, str]:
        """(0, the viewer fragment), or (close code, "") when the login may not use it now."""
        code, debugworker = self._allowed()
        if code or debugworker is None:
            return code or NOT_FOUND, ""
        return 0, workspaces.open_file(debugworker, area, target, path)[1]
