"""The heartbeat chart's geometry and words (debugui/charts.py), from unsaved Heartbeat rows:
axis labels, gaps past the "missed" threshold, and the empty and single-report cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from controller.models import Heartbeat
from debugui.charts import (
    HEIGHT,
    PLOT,
    WIDTH,
    duration,
    gaps_between,
    heartbeat_chart,
    task_ticks,
    time_step,
    time_ticks,
)

NOW = datetime(2026, 12, 1, 14, 30, 0, tzinfo=UTC)
INTERVAL = 30  # missed after 90 s


def beats(*seconds_ago: float, tasks: int = 0, state: str = "idle") -> list[Heartbeat]:
    """Reports ``seconds_ago`` before NOW, oldest first, as the page passes them."""
    return [
        Heartbeat(received_at=NOW - timedelta(seconds=s), state=state, active_tasks=tasks)
        for s in sorted(seconds_ago, reverse=True)
    ]


def chart(heartbeats: list[Heartbeat], zone=UTC):
    return heartbeat_chart(heartbeats, now=NOW, interval=INTERVAL, zone=zone)


def test_durations_read_as_the_two_largest_units():
    assert duration(45) == "45 s"
    assert duration(250) == "4 min 10 s"
    assert duration(7500) == "2 h 5 min"
    assert duration(90000 + 61) == "1 d 1 h"
    assert duration(0.4) == "0 s"


def test_only_silences_past_the_threshold_are_gaps_including_the_one_until_now():
    times = [NOW - timedelta(seconds=s) for s in (600, 570, 400, 370, 340)]
    assert gaps_between(times, NOW - timedelta(seconds=340), 90) == [(times[1], times[2])]
    assert gaps_between(times, NOW, 90) == [(times[1], times[2]), (times[4], NOW)]
    assert gaps_between(times, NOW - timedelta(seconds=250), 90) == [(times[1], times[2])]  # 90 s is not past 90 s
    assert gaps_between([], NOW, 90) == []


def test_gaps_are_shaded_bands_with_their_length_in_words_and_counted_in_the_label():
    drawn = chart(beats(600, 570, 320, 290, 260, 230, 200))
    assert len(drawn.gaps) == 2
    middle, trailing = drawn.gaps
    assert middle.seconds == 250 and middle.title.startswith(
        "no heartbeat for 4 min 10 s (from 2026-12-01 14:20:30 UTC"
    )
    assert middle.x == round(30 / 600 * WIDTH, 1) and middle.width == round(250 / 600 * WIDTH, 1)
    assert trailing.x + trailing.width == WIDTH and trailing.title.startswith("no heartbeat for 3 min 20 s")
    assert "2 gaps (no heartbeat for over 1 min 30 s)" in drawn.label


def test_reports_on_time_make_no_gap():
    drawn = chart(beats(*range(300, 0, -30)))
    assert drawn.gaps == [] and "0 gaps" in drawn.label


def test_bars_stand_at_their_time_with_height_by_tasks_and_busy_coloured():
    drawn = chart([*beats(120, tasks=0), *beats(60, tasks=4, state="busy"), *beats(0, tasks=2, state="busy")])
    first, tallest, last = drawn.bars
    assert first.x == 0 and last.x == WIDTH - drawn.bar_width  # kept inside the plot
    assert tallest.x + drawn.bar_width / 2 == WIDTH / 2
    assert tallest.y == HEIGHT - tallest.height and tallest.height > last.height > first.height > 0
    assert [bar.busy for bar in drawn.bars] == [False, True, True]
    assert tallest.title == "2026-12-01 14:29:00 UTC · busy · 4 tasks"
    assert drawn.label.startswith("3 heartbeats from 14:28:00 to 14:30:00 UTC: 2 busy, 1 idle, at most 4 active tasks")


def test_task_axis_labels_zero_the_most_and_an_exact_middle():
    assert [t.label for t in task_ticks(1)] == ["0", "1"]
    assert [t.label for t in task_ticks(4)] == ["0", "2", "4"]
    assert [t.label for t in task_ticks(5)] == ["0", "5"]  # 2.5 is no task count
    zero, middle, top = task_ticks(4)
    assert (zero.percent, zero.at) == (0, HEIGHT) and middle.percent == top.percent / 2
    assert top.at == HEIGHT - PLOT and top.percent == 100 * PLOT / HEIGHT
    drawn = chart(beats(60, 0, tasks=4, state="busy"))
    assert drawn.bars[0].y == task_ticks(4)[-1].at  # the tallest bar reaches the top grid line


def test_time_steps_are_round_and_cut_the_span_into_a_few_intervals():
    assert time_step(60) == 15
    assert time_step(600) == 120
    assert time_step(1800) == 600
    assert time_step(7 * 86400) == 2 * 86400
    for span in (61, 333, 1799, 3601, 40000, 86400 * 3):
        assert 2 <= span / time_step(span) <= 5


def test_time_labels_sit_at_round_times_evenly_spaced_inside_the_axis():
    ticks = time_ticks(NOW - timedelta(minutes=29, seconds=50), NOW, UTC)
    assert [t.label for t in ticks] == ["14:10 UTC", "14:20 UTC", "14:30 UTC"]
    assert [t.percent for t in ticks] == [round(590 / 1790 * 100, 2), round(1190 / 1790 * 100, 2), 100.0]
    spacing = {round(b.percent - a.percent, 1) for a, b in pairwise(ticks)}
    assert len(spacing) == 1
    assert [t.anchor for t in ticks] == ["middle", "middle", "end"]  # the last one ends at the edge
    short = time_ticks(NOW - timedelta(seconds=50), NOW, UTC)
    assert [t.label for t in short] == [f"14:29:{s}0 UTC" for s in range(1, 6)] + ["14:30:00 UTC"]


def test_time_labels_follow_the_dashboards_zone():
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: the round times are the zone's, not UTC's
    ticks = time_ticks(NOW - timedelta(hours=2), NOW, kolkata)
    assert [t.label for t in ticks] == ["18:00 IST", "18:30 IST", "19:00 IST", "19:30 IST", "20:00 IST"]
    drawn = chart(beats(60), zone=kolkata)
    assert drawn.bars[0].title.startswith("2026-12-01 19:59:00 IST")


def test_no_heartbeats_is_a_sentence_and_no_plot():
    drawn = chart([])
    assert drawn.label == "No heartbeats received yet."
    assert drawn.bars == drawn.gaps == drawn.x_ticks == drawn.y_ticks == []


def test_one_fresh_heartbeat_is_drawn_on_a_minute_wide_axis():
    drawn = chart(beats(5, tasks=1, state="busy"))
    assert len(drawn.bars) == 1 and drawn.gaps == []
    assert drawn.x_ticks[0].label == "14:29:00 UTC" and drawn.x_ticks[-1].label == "14:30:00 UTC"
    # Labels at the very edges start or end there, so they stay inside the axis.
    assert (drawn.x_ticks[0].anchor, drawn.x_ticks[-1].anchor) == ("start", "end")
    assert {t.anchor for t in drawn.x_ticks[1:-1]} == {"middle"}
    assert drawn.label.startswith("1 heartbeat from 14:29:55 to 14:29:55 UTC: 1 busy, 0 idle, at most 1 active task;")


def test_one_old_heartbeat_is_followed_by_a_gap_until_now():
    drawn = chart(beats(3600))
    assert [g.title.split(" (")[0] for g in drawn.gaps] == ["no heartbeat for 1 h"]
    assert drawn.gaps[0].x == 0 and drawn.gaps[0].width == WIDTH
    assert "1 gap (" in drawn.label
