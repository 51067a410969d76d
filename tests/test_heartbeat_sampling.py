"""What the heartbeat history keeps: one report per agent per sampling interval, every change of
state or note, never more than the cap; and the agent's row always shows its newest report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controller.models import Heartbeat, Manager, Worker
from controller.services.apply import apply_text
from controller.services.heartbeat_history import Sample, keeps, sample_every
from controller.services.heartbeats import MANAGER, Report, apply_reports

pytestmark = pytest.mark.django_db
T0 = timezone.now().replace(microsecond=0)
EVERY = timedelta(seconds=10)


def report(seconds: float, state: str = "idle", note: str = "", name: str = "ada", **fields) -> Report:
    tasks = fields.get("active_tasks", 1 if state == "busy" else 0)
    return Report(name, state, tasks, "", "", note, T0 + timedelta(seconds=seconds), fields.get("kind", "worker"))


def kept(name: str = "ada") -> list[tuple[int, str]]:
    """(seconds after T0, state) of the agent's history, oldest first."""
    rows = Heartbeat.objects.filter(worker__name=name).order_by("received_at", "id")
    return [(int((h.received_at - T0).total_seconds()), h.state) for h in rows]


@pytest.fixture(autouse=True)
def ada(settings):
    settings.HICLAW_HEARTBEAT_SAMPLE_SECONDS = 10
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: ada}\nspec: {model: q}\n")


def test_the_rule_keeps_one_per_interval_and_every_change():
    last = Sample(T0, "idle", "")
    assert keeps(None, last, EVERY)  # the first report of an agent
    assert not keeps(last, Sample(T0 + timedelta(seconds=9.9), "idle", ""), EVERY)
    assert keeps(last, Sample(T0 + EVERY, "idle", ""), EVERY)
    assert keeps(last, Sample(T0 + timedelta(seconds=1), "busy", ""), EVERY)  # a transition
    assert keeps(last, Sample(T0 + timedelta(seconds=1), "idle", "ack:save-state:r1"), EVERY)  # a new note
    assert keeps(last, Sample(T0, "idle", ""), timedelta(0))  # interval 0: every report


def test_reports_every_second_keep_one_per_interval_and_transitions_whatever_the_batches():
    # 30 idle reports a second apart, with a busy spell at 13-14 s; applied in batches of 4.
    reports = [report(s, "busy" if s in (13, 14) else "idle") for s in range(30)]
    for start in range(0, 30, 4):
        apply_reports(reports[start : start + 4])
    # 0 and 10 by the interval; 13 busy, 15 idle again (transitions); 25 is 10 s after 15.
    assert kept() == [(0, "idle"), (10, "idle"), (13, "busy"), (15, "idle"), (25, "idle")]
    ada = Worker.objects.get(name="ada")
    assert ada.last_heartbeat == T0 + timedelta(seconds=29)  # every report reached the row
    assert ada.idle_since == T0 + timedelta(seconds=15)  # idle since the busy spell ended


def test_the_default_interval_is_a_third_of_the_heartbeat_period(settings):
    settings.HICLAW_HEARTBEAT_SAMPLE_SECONDS = None
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    assert sample_every() == timedelta(seconds=10)  # an agent reporting every 30 s keeps every report
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 1
    assert sample_every() == timedelta(seconds=1 / 3)


def test_the_newest_report_wins_whatever_order_it_arrives_in():
    # Buffered by two web processes, a batch may hold reports out of order: taken oldest first,
    # the busy spell at 6 s is a transition the history keeps, and the row ends idle since 7 s.
    apply_reports([report(0, "idle")])
    apply_reports([report(7, "idle"), report(6, "busy", active_tasks=3), report(6.5, "busy", active_tasks=2)])
    ada = Worker.objects.get(name="ada")
    assert (ada.last_heartbeat, ada.active_tasks, ada.idle_since) == (T0 + timedelta(seconds=7), 0, ada.last_heartbeat)
    assert kept() == [(0, "idle"), (6, "busy"), (7, "idle")]  # 6.5 s: within the interval, no change
    # A report older than what the row shows (overtaken by a direct one) changes nothing.
    assert apply_reports([report(4, "busy")]) == 0
    assert Worker.objects.get(name="ada").last_heartbeat == T0 + timedelta(seconds=7)
    assert len(kept()) == 3


def test_the_cap_holds_after_every_write_and_keeps_the_newest(settings):
    settings.HICLAW_HEARTBEAT_HISTORY_MAX = 3
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: default}\nspec: {model: q}\n")
    for s in range(8):
        apply_reports([report(s, note=f"n{s}"), report(s, note=f"m{s}", name="default", kind=MANAGER)])
        assert Heartbeat.objects.filter(worker__name="ada").count() == min(s + 1, 3)
        assert Heartbeat.objects.filter(manager__name="default").count() == min(s + 1, 3)
    assert list(Heartbeat.objects.filter(worker__name="ada").values_list("note", flat=True)) == ["n7", "n6", "n5"]
    assert Manager.objects.get(name="default").last_heartbeat == T0 + timedelta(seconds=7)
    # One batch far over the cap is trimmed within the same write.
    apply_reports([report(10 + s, note=f"b{s}") for s in range(20)])
    assert list(Heartbeat.objects.filter(worker__name="ada").values_list("note", flat=True)) == ["b19", "b18", "b17"]
