"""The Heartbeats card of a worker's or Manager's page: its recent reports and their chart.

``debugui.charts`` draws from what it is given; this module gives it the clock, the
interval agents report at and the zone the dashboard shows times in.
"""

from __future__ import annotations

from django.utils import timezone

from controller.models import Heartbeat
from controller.services.heartbeat_health import interval_seconds
from debugui.charts import heartbeat_chart
from debugui.queries import HEARTBEAT_CHART_POINTS

SHOWN_REPORTS = 10  # the table under the chart


def card_context(**owner: object) -> dict:
    """``chart`` of the last reports of ``worker=`` or ``manager=`` and ``heartbeats``,
    the newest few, newest first."""
    recent = Heartbeat.objects.filter(**owner).order_by("-received_at")[:HEARTBEAT_CHART_POINTS]
    newest_first = list(recent)
    chart = heartbeat_chart(
        newest_first[::-1], now=timezone.now(), interval=interval_seconds(), zone=timezone.get_current_timezone()
    )
    return {"chart": chart, "heartbeats": newest_first[:SHOWN_REPORTS]}
