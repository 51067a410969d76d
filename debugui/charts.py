"""The heartbeat chart of a worker or Manager page, computed on the server (no chart library).

Bars stand at the time each report arrived, their height is the active task count,
busy reports are coloured. Any silence longer than the "missed" threshold
(``MISSED_AFTER`` heartbeat intervals, controller/services/heartbeat_health.py) between
two reports, or from the last report until now, is a shaded gap, so a missing stretch
reads as one. The plot is an SVG stretched to the card's width
(``preserveAspectRatio="none"``), so it holds no text. The time labels are a second SVG
of the same width that is not stretched (no viewBox): its ``<text x="40%">`` sits at
the same place as the plot's grid line and stays crisp. The task labels (0, the
middle, the most) are HTML spread down the plot's height by CSS. The page's
Content-Security-Policy forbids ``style=`` attributes, hence SVG attributes for places.

Everything here is pure: the caller passes the moment "now", the interval and the zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from itertools import pairwise

from controller.models import Heartbeat
from controller.services.heartbeat_health import MISSED_AFTER

WIDTH, HEIGHT, BAR = 1000, 100, 6  # SVG units; the SVG stretches, so only proportions matter
PLOT = HEIGHT - 1  # the tallest bar stops under the top grid line, which stays visible
IDLE_HEIGHT = 3  # an idle report with no task still shows as a short bar
MIN_GAP_WIDTH = 2  # a short gap in a long chart stays visible
MIN_SPAN = 60.0  # seconds: one fresh report is not drawn across the whole width
MAX_TIME_TICKS = 5  # at most this many intervals between time labels, so they never crowd
EDGE = 12  # percent: a time label this close to an edge starts or ends at its place instead of centring
# Round steps between time labels, in seconds; past a day, whole days.
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    busy: bool
    title: str


@dataclass(frozen=True)
class Gap:
    x: float
    width: float
    seconds: float
    title: str


@dataclass(frozen=True)
class Tick:
    """An axis label: ``percent`` along its axis (from the left, or up from the bottom) for
    the label, ``at`` the same place in the plot's SVG units for the grid line; ``anchor``
    keeps a time label near an edge inside the axis (``start``, ``middle``, ``end``)."""

    percent: float
    at: float
    label: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    gaps: list[Gap]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    max_tasks: int
    label: str
    bar_width: int = BAR


def duration(seconds: float) -> str:
    """``45 s``, ``4 min 10 s``, ``2 h 5 min``, ``1 d 3 h``: the two largest units."""
    whole = int(seconds)
    units = [(count, name) for count, name in _split(whole) if count]
    return " ".join(f"{count} {name}" for count, name in units[:2]) or "0 s"


def _split(seconds: int) -> list[tuple[int, str]]:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]


def gaps_between(times: list[datetime], now: datetime, threshold: float) -> list[tuple[datetime, datetime]]:
    """Silences longer than ``threshold`` seconds between consecutive reports (oldest
    first), and from the last report until ``now``."""
    ends = [*times, now] if times and now > times[-1] else times
    return [(a, b) for a, b in pairwise(ends) if (b - a).total_seconds() > threshold]


def time_step(span: float, most: int = MAX_TIME_TICKS) -> int:
    """The smallest round step that cuts ``span`` seconds into at most ``most`` intervals."""
    for step in TICK_STEPS:
        if span / step <= most:
            return step
    return 86400 * math.ceil(span / 86400 / most)


def time_ticks(start: datetime, end: datetime, zone: tzinfo, most: int = MAX_TIME_TICKS) -> list[Tick]:
    """Labels at round times of ``zone`` (every 5 min, every hour…) between ``start`` and
    ``end``, evenly spaced; ``14:05 UTC``, with seconds when the step is under a minute."""
    span = max((end - start).total_seconds(), 1.0)
    step = time_step(span, most)
    offset = (start.astimezone(zone).utcoffset() or timedelta()).total_seconds()
    first = math.ceil((start.timestamp() + offset) / step) * step - offset
    shape = "%H:%M %Z" if step % 60 == 0 else "%H:%M:%S %Z"
    ticks = []
    moment = first
    while moment <= end.timestamp() + 1e-6:
        share = (moment - start.timestamp()) / span
        label = datetime.fromtimestamp(moment, zone).strftime(shape)
        anchor = "start" if share * 100 < EDGE else "end" if share * 100 > 100 - EDGE else "middle"
        ticks.append(Tick(round(share * 100, 2), round(share * WIDTH, 1), label, anchor))
        moment += step
    return ticks


def task_ticks(most: int) -> list[Tick]:
    """0, the largest count and, when it is even, the one half way (the labels are spread
    evenly down the plot, so a middle one must be exactly half)."""
    values = [0, most // 2, most] if most % 2 == 0 else [0, most]
    return [Tick(round(100 * PLOT * v / most / HEIGHT, 2), round(HEIGHT - PLOT * v / most, 1), str(v)) for v in values]


def _at(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _bar(heartbeat: Heartbeat, x: float, most: int, zone: tzinfo) -> Bar:
    height = max(IDLE_HEIGHT, PLOT * heartbeat.active_tasks / most)
    tasks = "1 task" if heartbeat.active_tasks == 1 else f"{heartbeat.active_tasks} tasks"
    title = f"{_at(heartbeat.received_at, zone)} · {heartbeat.state} · {tasks}"
    left = min(max(x - BAR / 2, 0), WIDTH - BAR)
    return Bar(round(left, 1), round(HEIGHT - height, 1), round(height, 1), heartbeat.state == "busy", title)


def _gap(since: datetime, until: datetime, x: float, x_end: float, zone: tzinfo) -> Gap:
    seconds = (until - since).total_seconds()
    title = f"no heartbeat for {duration(seconds)} (from {_at(since, zone)} to {_at(until, zone)})"
    width = max(x_end - x, MIN_GAP_WIDTH)
    return Gap(round(min(x, WIDTH - width), 1), round(width, 1), seconds, title)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _summary(heartbeats: list[Heartbeat], gaps: list[Gap], most: int, threshold: float, zone: tzinfo) -> str:
    busy = sum(1 for h in heartbeats if h.state == "busy")
    first, last = heartbeats[0].received_at.astimezone(zone), heartbeats[-1].received_at.astimezone(zone)
    return (
        f"{_plural(len(heartbeats), 'heartbeat')} from {first:%H:%M:%S} to {last:%H:%M:%S %Z}: "
        f"{busy} busy, {len(heartbeats) - busy} idle, at most {_plural(most, 'active task')}; "
        f"{_plural(len(gaps), 'gap')} (no heartbeat for over {duration(threshold)})"
    )


def heartbeat_chart(heartbeats: list[Heartbeat], *, now: datetime, interval: float, zone: tzinfo) -> Chart:
    """``heartbeats`` oldest first; ``interval`` the seconds agents are told to report at.

    The time axis runs from the first report to ``now`` (or the last report, if later)."""
    if not heartbeats:
        return Chart(WIDTH, HEIGHT, [], [], [], [], 0, "No heartbeats received yet.")
    end = max(now, heartbeats[-1].received_at)
    start = min(heartbeats[0].received_at, end - timedelta(seconds=MIN_SPAN))
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return (moment - start).total_seconds() / span * WIDTH

    most = max(max(h.active_tasks for h in heartbeats), 1)
    threshold = MISSED_AFTER * interval
    times = [h.received_at for h in heartbeats]
    gaps = [_gap(a, b, x(a), x(b), zone) for a, b in gaps_between(times, end, threshold)]
    bars = [_bar(h, x(h.received_at), most, zone) for h in heartbeats]
    label = _summary(heartbeats, gaps, most, threshold, zone)
    return Chart(WIDTH, HEIGHT, bars, gaps, time_ticks(start, end, zone), task_ticks(most), most, label)
