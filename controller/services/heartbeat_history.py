"""Which reports the heartbeat history keeps, and its cap, applied as reports are written.

Every report updates its agent's row (the latest wins), but the history —
the dashboard's chart, the debug report, the rollout's look for an
acknowledgement — needs samples, not every report: it keeps one report per
agent per ``HICLAW_HEARTBEAT_SAMPLE_SECONDS`` (by default a third of the
heartbeat interval, so a well-behaved agent's every report is kept), and
always a report whose state (busy/idle) or ``note`` differs from the last one
kept: transitions and acknowledgements of notices are never lost.

An agent reporting far faster than it should still cannot grow its history
past ``HICLAW_HEARTBEAT_HISTORY_MAX`` rows: whoever writes samples trims that
agent's oldest rows over the cap in the same transaction, so the cap holds at
all times, not only after the hourly prune.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, OuterRef, Subquery, Window
from django.db.models.functions import RowNumber

from controller.models import Heartbeat, Manager, Worker


@dataclass(frozen=True)
class Sample:
    """What the coalescing rule compares: the last kept report of an agent."""

    at: datetime
    state: str
    note: str


def sample_every() -> timedelta:
    seconds = settings.HICLAW_HEARTBEAT_SAMPLE_SECONDS
    return timedelta(seconds=settings.HICLAW_AGENT_HEARTBEAT_SECONDS / 3 if seconds is None else seconds)


def keeps(last: Sample | None, report: Sample, every: timedelta) -> bool:
    """Whether the history keeps ``report``, given the agent's last kept sample."""
    if last is None or report.state != last.state or report.note != last.note:
        return True
    return report.at - last.at >= every


def last_samples(model: type[Worker] | type[Manager], agent_ids: Collection[int]) -> dict[int, Sample]:
    """Each agent's newest history row, by agent id: one statement, an index seek per agent."""
    if not agent_ids:
        return {}
    column = _column(model)
    newest = Heartbeat.objects.filter(**{column: OuterRef("pk")}).order_by("-received_at", "-id").values("pk")[:1]
    ids = model.objects.filter(pk__in=agent_ids).annotate(newest=Subquery(newest)).values("newest")
    rows = Heartbeat.objects.filter(pk__in=Subquery(ids)).values_list(column, "received_at", "state", "note")
    return {agent: Sample(at, state, note) for agent, at, state, note in rows}


def trim(model: type[Worker] | type[Manager], agent_ids: Collection[int]) -> int:
    """Delete the agents' oldest rows beyond ``HICLAW_HEARTBEAT_HISTORY_MAX``; how many went."""
    if not agent_ids:
        return 0
    column = _column(model)
    newest_first = Window(RowNumber(), partition_by=F(column), order_by=[F("received_at").desc(), F("id").desc()])
    over = (
        Heartbeat.objects.filter(**{f"{column}__in": agent_ids})
        .annotate(rank=newest_first)
        .filter(rank__gt=settings.HICLAW_HEARTBEAT_HISTORY_MAX)
        .values("id")
    )
    deleted, _ = Heartbeat.objects.filter(id__in=over).delete()
    return deleted


def _column(model: type[Worker] | type[Manager]) -> str:
    return f"{model.kind.lower()}_id"
