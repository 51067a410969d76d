"""How often one agent may report: at most ``HICLAW_HEARTBEAT_MAX_PER_MINUTE`` heartbeats.

An agent reports every ``HICLAW_AGENT_HEARTBEAT_SECONDS`` (30 s), so the
default of 120 a minute is sixty times what a well-behaved agent sends; an
agent (any worker token can post) that loops as fast as it can would
otherwise cost the database a write per report. Each agent has its own
count — a flood from one never slows another — in fixed one-minute windows
that start with the agent's first report. A report over the limit is
answered ``429`` with ``Retry-After``: the seconds until the window ends.

Both paths count in the memory of the process that answers (``local``): the
fast path (controller/ingest.py) of each web process, and embedded mode's one
process. The check is then free — no round trip, and a flood's refusals never
reach Redis — where a count shared in Redis cost the fast path about a tenth of
its rate (docs/benchmarks.md). With several web processes an agent's reports
spread over them, so an agent may get up to the limit times the number of web
processes a minute; what reaches the database stays bounded whatever the rate,
because the history keeps one sample per interval and at most its cap
(controller/services/heartbeat_history.py).
"""

from __future__ import annotations

import math
import threading
import time

from django.conf import settings

WINDOW_SECONDS = 60
_MAX_TRACKED = 100_000  # agents counted in memory before finished windows are forgotten


def per_minute() -> int:
    return settings.HICLAW_HEARTBEAT_MAX_PER_MINUTE


def refusal(wait: int) -> str:
    """The words of a 429 (the same on both paths)."""
    return f"too many heartbeats: at most {per_minute()} a minute per agent; retry after {wait} s"


class WindowLimiter:
    """Per-key counts in fixed windows, in this process's memory (embedded mode)."""

    def __init__(self, window: float = WINDOW_SECONDS):
        self.window = window
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window end, reports in it)

    def admit(self, key: str, limit: int, now: float | None = None) -> int:
        """0 when one more report of ``key`` is within ``limit``, else whole seconds to wait."""
        if limit <= 0:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            end, count = self._windows.get(key, (0.0, 0))
            if now >= end:
                if len(self._windows) >= _MAX_TRACKED:
                    self._forget_finished(now)
                end, count = now + self.window, 0
            self._windows[key] = (end, count + 1)
            return 0 if count < limit else max(1, math.ceil(end - now))

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def _forget_finished(self, now: float) -> None:
        self._windows = {key: entry for key, entry in self._windows.items() if entry[0] > now}


local = WindowLimiter()


def admit_here(kind: str, name: str) -> int:
    """Count a report of one agent in this process: 0 when admitted, else seconds to wait."""
    return local.admit(f"{kind}:{name}", per_minute())
