"""Gauges read from the database when ``/metrics`` is scraped: workers by phase, unhealthy
workers, and the progress of rollouts under way.

They describe the stored state, not what one process did, so they are computed at
scrape time by the scraping process alone (controller/metrics_view.py) rather than
set by whichever process changed a row: with several processes writing metrics
files, a gauge set in each would be counted once per process. Labels are phases,
states and the ids of unfinished rollouts only: a handful of series, however many
workers there are.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.models import FINISHED_STATES, AgentPhase, TargetState, Upgrade, UpgradeTarget, Worker


class FleetCollector(Collector):
    """One query per family at each scrape; every known phase and state is reported, at 0
    when nothing is in it, so a series never vanishes when its count drops to none."""

    def collect(self) -> Iterator[Metric]:
        yield self._workers()
        yield self._unhealthy()
        yield from self._rollouts()

    @staticmethod
    def _workers() -> Metric:
        family = GaugeMetricFamily("hiclaw_workers", "Workers by phase.", labels=["phase"])
        counts = _counts(Worker.objects.values_list("phase").annotate(n=Count("pk")))
        for phase in [*AgentPhase.values, *sorted(set(counts) - set(AgentPhase.values))]:
            family.add_metric([phase], counts.get(phase, 0))
        return family

    @staticmethod
    def _unhealthy() -> Metric:
        family = GaugeMetricFamily(
            "hiclaw_unhealthy_workers", "Workers whose heartbeats stopped (the Healthy condition is False)."
        )
        family.add_metric([], Worker.objects.filter(heartbeat_missed_since__isnull=False).count())
        return family

    @staticmethod
    def _rollouts() -> Iterator[Metric]:
        active = Upgrade.objects.filter(kind=Upgrade.Kind.ROLLOUT).exclude(state__in=FINISHED_STATES)
        targets = UpgradeTarget.objects.filter(upgrade__in=active)
        by_state = GaugeMetricFamily(
            "hiclaw_rollout_targets", "Workers of the unfinished image rollouts, by target state.", labels=["state"]
        )
        counts = _counts(targets.values_list("state").annotate(n=Count("pk")))
        for state in TargetState.values:
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state
        progress = GaugeMetricFamily(
            "hiclaw_rollout_progress_ratio",
            "Share of an unfinished image rollout's workers already on the new image (0 to 1), by upgrade id.",
            labels=["upgrade"],
        )
        done: dict[int, int] = {}
        total: dict[int, int] = {}
        for upgrade_id, state, n in targets.values_list("upgrade_id", "state").annotate(n=Count("pk")):
            total[upgrade_id] = total.get(upgrade_id, 0) + n
            if state == TargetState.DONE:
                done[upgrade_id] = n
        for upgrade_id in sorted(active.values_list("pk", flat=True)):
            whole = total.get(upgrade_id, 0)
            progress.add_metric([str(upgrade_id)], done.get(upgrade_id, 0) / whole if whole else 0.0)
        yield progress


def _counts(rows) -> dict[str, int]:
    return {key: n for key, n in rows}
