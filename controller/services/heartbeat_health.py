"""Whether an agent's heartbeats arrive on time: ``ok``, ``late`` or ``missed``.

Every agent is told to report every ``HICLAW_AGENT_HEARTBEAT_SECONDS`` (its
instance's env ``HICLAW_HEARTBEAT_SECONDS``), so that interval is what its health
is judged by — not a team's ``heartbeat.every``, which says how often the team
leader's agent checks on its team:

- ``ok`` while the last report is at most 1.5 intervals old (a report may be a little late);
- ``late`` past 1.5 intervals: a report is missing; the dashboard shows the age amber;
- ``missed`` past 3 intervals: the sweeper marks the worker unhealthy
  (``heartbeat_missed_since``) and tells its team room once; the next report clears
  the mark, and the health is ``ok`` again.

Only an agent that should run and whose instance runs (phase Running) is judged. Its
age counts from its last report, or from its instance's start when it has not
reported since (else from its last reconcile). A mark stays ``missed`` until a
report clears it, whatever the phase. ``health`` judges one row in Python (the API,
the dashboard); ``overdue`` is the same rule as a SQL filter, so the sweeper loads
only the rows it has to mark. Both take ``now`` so tests move the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db.models import Q

from controller.models import AgentPhase, DesiredState
from controller.models.agent import AgentResource

Health = Literal["ok", "late", "missed"]
OK: Health = "ok"
LATE: Health = "late"
MISSED: Health = "missed"
# In heartbeat intervals: past the first an agent is late, past the second it missed its heartbeats.
LATE_AFTER = 1.5
MISSED_AFTER = 3.0


def interval_seconds() -> int:
    """Seconds between an agent's heartbeats: what every agent instance is told."""
    return settings.HICLAW_AGENT_HEARTBEAT_SECONDS


def judged(agent: AgentResource) -> bool:
    """Only an agent that should run and whose instance runs is expected to report."""
    return (
        agent.state == DesiredState.RUNNING
        and agent.phase == AgentPhase.RUNNING
        and agent.deletion_requested_at is None
    )


def counted_from(agent: AgentResource) -> datetime | None:
    """The moment its silence counts from: the last report, or the instance's start when it
    has not reported since; without either, its last reconcile."""
    reported, started = agent.last_heartbeat, agent.instance_started_at
    if reported is not None and started is not None:
        return max(reported, started)
    return reported or started or agent.reconciled_at


def of_age(seconds: float, interval: float) -> Health:
    """The health of an agent silent for ``seconds`` (live.js applies the same thresholds)."""
    if seconds > MISSED_AFTER * interval:
        return MISSED
    if seconds > LATE_AFTER * interval:
        return LATE
    return OK


def health(agent: AgentResource, now: datetime) -> Health:
    """``ok``, ``late`` or ``missed`` at ``now``; a Manager has no mark and is judged by age only."""
    if getattr(agent, "heartbeat_missed_since", None) is not None:
        return MISSED
    since = counted_from(agent) if judged(agent) else None
    if since is None:
        return OK
    return of_age((now - since).total_seconds(), interval_seconds())


def missed_before(now: datetime) -> datetime:
    """An agent whose silence counts from before this moment has missed its heartbeats."""
    return now - timedelta(seconds=MISSED_AFTER * interval_seconds())


def late_before(now: datetime) -> datetime:
    """An agent whose silence counts from before this moment is at least late."""
    return now - timedelta(seconds=LATE_AFTER * interval_seconds())


def health_rows(wanted: str, now: datetime) -> Q:
    """``health`` as a filter: the rows whose health at ``now`` is ``wanted``."""
    missed = Q(heartbeat_missed_since__isnull=False) | (judged_rows() & overdue(missed_before(now)))
    late = judged_rows() & overdue(late_before(now)) & ~missed
    rows: dict[str, Q] = {MISSED: missed, LATE: late, OK: ~missed & ~late}
    return rows[wanted]


def judged_rows() -> Q:
    """``judged`` as a filter."""
    return Q(state=DesiredState.RUNNING, phase=AgentPhase.RUNNING, deletion_requested_at__isnull=True)


def overdue(before: datetime) -> Q:
    """Rows whose ``counted_from`` is older than ``before``, as a filter: neither the last
    report nor the instance's start is at or after it, and one of them (else the last
    reconcile) is set."""
    known = Q(last_heartbeat__isnull=False) | Q(instance_started_at__isnull=False) | Q(reconciled_at__lt=before)
    return (
        (Q(last_heartbeat__lt=before) | Q(last_heartbeat__isnull=True))
        & (Q(instance_started_at__lt=before) | Q(instance_started_at__isnull=True))
        & known
    )
