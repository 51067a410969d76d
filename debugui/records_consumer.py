"""Live rows of the Managers and Humans pages, a Manager's page and a DebugWorker's page,
over ``/ws/managers/``, ``/ws/managers/<name>/``, ``/ws/humans/`` and ``/ws/debugworkers/<name>/``
(docs/dashboard.md, "Live updates").

The live status consumer's machinery (session re-checked before every push, close
codes, coalescing) with rows of one kind: a snapshot of what the login may see on
(re)connect, then for each ``record.changed`` notice (controller.services.live, sent on
every save or delete, and for a Human when a login is saved) the row re-read through
the policy and sent, or reported gone. A page about one record listens to the same
group and keeps to its name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from controller import policy
from controller.models import DebugWorker, Human, Manager
from controller.services import live, logins
from debugui import queries
from debugui.consumers import LiveStatusConsumer


def _visible(kind: str, principal: policy.Principal) -> QuerySet:
    if kind == "debugworker":  # a DebugWorker's page is open to those it is for (allowedUsers)
        return policy.visible_or_usable(principal, DebugWorker.objects.all())
    if kind == "human":
        return policy.visible(principal, Human.objects.select_related("user"))
    return policy.visible(principal, Manager.objects.all())


def _human_rows(humans: list[Human]) -> list[dict[str, Any]]:
    names = {human.name for human in humans}
    same_name = set(get_user_model().objects.filter(username__in=names).values_list("username", flat=True))
    return [queries.human_row(human, logins.login_of(human, same_name)) for human in humans]


ROWS: dict[str, Callable[[list], list[dict[str, Any]]]] = {
    "manager": lambda rows: [queries.manager_row(row) for row in rows],
    "human": _human_rows,
    "debugworker": lambda rows: [queries.debugworker_row(row) for row in rows],
}


class RecordsConsumer(LiveStatusConsumer):
    def __init__(self, *args, kind: str = "manager", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind  # given by the route: "manager", "human" or "debugworker"

    async def connect(self) -> None:
        self.record = str(self.scope["url_route"]["kwargs"].get("name", ""))
        self.pending_records: set[str] = set()
        self.known_records: set[str] = set()
        await super().connect()

    async def worker_changed(self, event: dict) -> None:
        """Not subscribed to worker groups; ignored should one arrive."""

    async def team_changed(self, event: dict) -> None:
        """Not subscribed to team groups; ignored should one arrive."""

    async def record_changed(self, event: dict) -> None:
        name = event.get("name")
        if self.closing or event.get("kind") != self.kind or not isinstance(name, str):
            return
        if self.record and name != self.record:
            return
        self.pending_records.add(name)
        self._schedule_flush()

    def _has_pending(self) -> bool:
        return bool(self.pending_records)

    def _take_pending(self) -> tuple:
        pending, self.pending_records = self.pending_records, set()
        return (pending,)

    # --- database side (run in a thread) ------------------------------------------------
    def _shown(self) -> QuerySet:
        rows = _visible(self.kind, self.principal)
        return rows.filter(name=self.record) if self.record else rows

    def _may_see_route(self) -> bool:
        """A record's page closes when the record leaves the login's view (or is deleted),
        like a worker's; the lists show what the policy lets each login see, maybe nothing."""
        return self._shown().exists() if self.record else True

    def _groups_of_route(self) -> list[str]:
        return [live.record_group(self.kind)]

    def _snapshot(self) -> dict:
        rows = list(self._shown().order_by("name"))
        self.known_records = {row.name for row in rows}
        return {
            "type": "snapshot",
            "now": timezone.now().isoformat(),
            "teams": [],
            f"{self.kind}s": ROWS[self.kind](rows),
        }

    def _read_pending(self, pending: tuple) -> list[dict]:
        (names,) = pending
        rows = list(self._shown().filter(name__in=names))
        messages: list[dict] = [{"type": self.kind, self.kind: row} for row in ROWS[self.kind](rows)]
        seen = {row.name for row in rows}
        # Only rows this page was shown may be reported gone: other names are none of its business.
        messages += [
            {"type": f"{self.kind}.gone", "name": name} for name in sorted((names & self.known_records) - seen)
        ]
        self.known_records = (self.known_records - names) | seen
        return messages
