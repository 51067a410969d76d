"""Where the machine's CPU went during a measurement, from /proc (Linux only).

On a small machine the controller, the homeserver, the container engine and
the database share the same cores, so a latency is often bound by the CPU
one of them needs rather than by waiting. ``CpuMeter`` reads each process's
user+system time before and after a block and the machine's busy time
(/proc/stat), and reports the CPU seconds of each named group. Processes
that started and ended inside the block (``runc``, short-lived shims) are
only in the machine's total; so is any other job sharing the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

TICKS = os.sysconf("SC_CLK_TCK")
# Processes picked by their command name, whoever started them.
BY_NAME = {
    "engine (dockerd, containerd, shims)": ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2"),
    "postgres": ("postgres",),
    "redis": ("redis-server",),
}


def cpu_seconds(pid: int) -> float:
    """User + system time of process ``pid`` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15 of stat)


def busy_seconds() -> float:
    """CPU time the whole machine spent not idle (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICKS


def pids_named(names: tuple[str, ...]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """``with CpuMeter({"web": lambda: [pid]}) as meter: …`` then ``meter.lines()``."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]):
        self.groups = {**groups, **{label: _named(names) for label, names in BY_NAME.items()}}
        self.used: dict[str, float] = {}
        self.total = 0.0
        self.wall = 0.0

    def __enter__(self) -> CpuMeter:
        import time

        self._start = {label: {pid: cpu_seconds(pid) for pid in pids()} for label, pids in self.groups.items()}
        self._busy, self._wall = busy_seconds(), time.perf_counter()
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        import time

        self.wall = time.perf_counter() - self._wall
        self.total = busy_seconds() - self._busy
        for label, pids in self.groups.items():
            before = self._start[label]
            self.used[label] = sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in pids())

    def lines(self) -> list[str]:
        cores = os.cpu_count() or 1
        lines = [f"CPU over {self.wall:.2f} s wall ({cores} cores = {cores * self.wall:.1f} CPU-s available):"]
        for label, seconds in sorted(self.used.items(), key=lambda item: -item[1]):
            lines.append(f"    {label:<38} {seconds:6.2f} CPU-s")
        rest = self.total - sum(self.used.values())
        lines.append(f"    {'rest (short-lived, other jobs, kernel)':<38} {rest:6.2f} CPU-s")
        lines.append(f"    {'machine busy in total':<38} {self.total:6.2f} CPU-s")
        return lines


def _named(names: tuple[str, ...]) -> Callable[[], list[int]]:
    return lambda: pids_named(names)
