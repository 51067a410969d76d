"""The heartbeat chart of a worker page: an inline SVG computed on the server, no chart library.

Bars stand at the time each report arrived (so gaps show missed heartbeats),
their height is the active task count, busy reports are coloured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controller.models import Heartbeat

WIDTH, HEIGHT, BAR = 600, 80, 4
IDLE_HEIGHT = 6  # an idle report with no task still shows as a short bar


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    busy: bool
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    start: datetime | None
    end: datetime | None
    max_tasks: int
    label: str


def heartbeat_chart(heartbeats: list[Heartbeat]) -> Chart:
    """``heartbeats`` oldest first."""
    if not heartbeats:
        return Chart(WIDTH, HEIGHT, [], None, None, 0, "No heartbeats received yet.")
    start, end = heartbeats[0].received_at, heartbeats[-1].received_at
    span = max((end - start).total_seconds(), 1.0)
    most = max(max(h.active_tasks for h in heartbeats), 1)
    bars = []
    for heartbeat in heartbeats:
        offset = (heartbeat.received_at - start).total_seconds() / span
        height = max(IDLE_HEIGHT, (HEIGHT - 4) * heartbeat.active_tasks / most)
        busy = heartbeat.state == "busy"
        title = f"{heartbeat.received_at:%Y-%m-%d %H:%M:%S} UTC · {heartbeat.state} · {heartbeat.active_tasks} tasks"
        bars.append(Bar(round(offset * (WIDTH - BAR), 1), round(HEIGHT - height, 1), round(height, 1), busy, title))
    busy_count = sum(1 for bar in bars if bar.busy)
    label = (
        f"{len(bars)} heartbeats from {start:%H:%M:%S} to {end:%H:%M:%S} UTC: "
        f"{busy_count} busy, {len(bars) - busy_count} idle, at most {most} active tasks"
    )
    return Chart(WIDTH, HEIGHT, bars, start, end, most, label)
