"""Live progress for the Upgrades page, over ``/ws/upgrades/`` (docs/dashboard.md, "Upgrades").

The live status consumer's machinery (session re-checked before every push,
close codes, coalescing) with other rows: on (re)connect a snapshot of the
newest upgrades the login may see; then, for each ``upgrade.changed`` notice
(controller.services.live, sent on every save of an upgrade or a target), the
upgrade re-read through ``policy.visible`` and sent whole — a notice names an
id and is never trusted beyond that, so another team's upgrade is never sent.
"""

from __future__ import annotations

from django.utils import timezone

from controller import policy
from controller.models import Upgrade
from controller.services import live
from controller.services.upgrade_body import upgrade_body, with_targets
from debugui import queries
from debugui.consumers import LiveStatusConsumer


def visible_upgrades(principal: policy.Principal):
    return with_targets(policy.visible(principal, Upgrade.objects.all()))


class UpgradesConsumer(LiveStatusConsumer):
    async def connect(self) -> None:
        self.pending_upgrades: set[int] = set()
        self.known_upgrades: set[int] = set()
        await super().connect()

    async def worker_changed(self, event: dict) -> None:
        """Not subscribed to worker groups; ignored should one arrive."""

    async def team_changed(self, event: dict) -> None:
        """Not subscribed to team groups; ignored should one arrive."""

    async def upgrade_changed(self, event: dict) -> None:
        upgrade = event.get("upgrade")
        if self.closing or not isinstance(upgrade, int):
            return
        self.pending_upgrades.add(upgrade)
        self._schedule_flush()

    def _has_pending(self) -> bool:
        return bool(self.pending_upgrades)

    def _take_pending(self) -> tuple:
        pending, self.pending_upgrades = self.pending_upgrades, set()
        return (pending,)

    # --- database side (run in a thread) ------------------------------------------------
    def _may_see_route(self) -> bool:
        return self.principal.identity != policy.NOBODY

    def _groups_of_route(self) -> list[str]:
        return [live.UPGRADES_GROUP]

    def _snapshot(self) -> dict:
        upgrades = list(visible_upgrades(self.principal)[: queries.PAGE_SIZE])
        self.known_upgrades = {upgrade.pk for upgrade in upgrades}
        return {
            "type": "snapshot",
            "now": timezone.now().isoformat(),
            "teams": [],
            "workers": [],
            "upgrades": [upgrade_body(upgrade) for upgrade in upgrades],
        }

    def _read_pending(self, pending: tuple) -> list[dict]:
        (ids,) = pending
        rows = list(visible_upgrades(self.principal).filter(pk__in=ids))
        messages = [{"type": "upgrade", "upgrade": upgrade_body(upgrade)} for upgrade in rows]
        seen = {upgrade.pk for upgrade in rows}
        # Only rows this page was shown may be reported gone: other ids are none of its business.
        messages += [{"type": "upgrade.gone", "id": pk} for pk in sorted((ids & self.known_upgrades) - seen)]
        self.known_upgrades = (self.known_upgrades - ids) | seen
        return messages
