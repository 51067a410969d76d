"""The worker page's heartbeat chart as the server renders it: axis labels around the plot,
a shaded gap where reports stopped, and the card alone for the page to refetch live."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from controller.models import Heartbeat, Worker

pytestmark = pytest.mark.django_db


def reports_with_a_gap(name: str) -> None:
    """``name`` reported every 30 s for 5 min, busy with 3 tasks, stopped for 10 min, and
    reports again: one gap for a 30 s interval (missed after 90 s)."""
    worker, now = Worker.objects.get(name=name), timezone.now()
    seconds = [*range(900, 600, -30), 30, 0]
    Heartbeat.objects.bulk_create(
        Heartbeat(worker=worker, received_at=now - timedelta(seconds=s), state="busy", active_tasks=3) for s in seconds
    )


@pytest.fixture
def history(settings) -> None:
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    reports_with_a_gap("a-dev")


def test_the_worker_page_labels_both_axes_and_shades_the_gap(login_client, history):
    html = login_client("alice").get("/workers/a-dev/").content.decode()
    y_labels = re.findall(r'<div class="chart-y"[^>]*>(.*?)</div>', html)[0]
    assert re.findall(r"<span>(\d+)</span>", y_labels) == ["0", "3"]
    x_labels = re.findall(r'<text x="[\d.]+%" y="12" text-anchor="\w+"[^>]*>(\d\d:\d\d(?::\d\d)? UTC)</text>', html)
    assert 3 <= len(x_labels) <= 6, x_labels
    assert html.count('class="gap"') == 1
    assert re.search(r'class="gap"><title>no heartbeat for 10 min \(from ', html)
    assert re.search(
        r'role="img" aria-label="12 heartbeats from [^"]*1 gap \(no heartbeat for over 1 min 30 s\)"', html
    )
    plot = re.findall(r'<svg class="chart-bars".*?</svg>', html, re.S)[0]
    assert 'preserveAspectRatio="none"' in plot and "<text" not in plot  # no text in the stretched plot
    assert ' style="' not in html  # the Content-Security-Policy would drop it
    assert '<span class="legend gap">no heartbeat</span>' in html


def test_a_worker_that_never_reported_shows_a_sentence_not_an_empty_plot(login_client):
    html = login_client("alice").get("/workers/a-dev/").content.decode()
    assert "No heartbeats received yet." in html and "chart-plot" not in html


def test_the_heartbeats_card_alone_is_there_to_refetch_within_the_logins_scope(login_client, history):
    page = login_client("alice").get("/workers/a-dev/").content.decode()
    assert 'data-chart-url="/workers/a-dev/heartbeats/"' in page
    card = login_client("alice").get("/workers/a-dev/heartbeats/")
    assert card.status_code == 200
    text = card.content.decode()
    assert text.startswith("<section") and 'class="gap"' in text and "Last 10 reports" in text
    assert login_client("bob").get("/workers/a-dev/heartbeats/").status_code == 404  # team-b's admin
    assert login_client("alice").get("/workers/nobody/heartbeats/").status_code == 404
    assert Client().get("/workers/a-dev/heartbeats/").status_code == 302  # to the login page
