"""The heartbeat age is coloured by health on the worker list, the team page and the worker
page, with the state in words too; the page script is given what it needs to move the colour
on as the age ticks (tests/ui/test_browser.py watches it do so)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from controller.models import Worker
from debugui.queries import worker_row

pytestmark = pytest.mark.django_db

AGE = re.compile(
    r'<span class="heartbeat (?P<cls>hb-\w+)" data-field="heartbeat" data-format="heartbeat" '
    r'data-value="(?P<value>\w+)" data-interval="(?P<interval>\d+)"(?: data-since="(?P<since>[^"]+)")? '
    r'title="(?P<title>[^"]+)">.*?<span class="hb-label">(?P<label>\w*)</span>',
    re.DOTALL,
)


@pytest.fixture
def ages(world, settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    now = timezone.now()
    Worker.objects.filter(name="a-dev").update(last_heartbeat=now - timedelta(seconds=10))
    Worker.objects.filter(name="a-qa").update(last_heartbeat=now - timedelta(seconds=60))
    Worker.objects.filter(name="a-lead").update(last_heartbeat=now - timedelta(seconds=100))  # not marked yet
    # a-ops: marked by the sweeper (tests/ui/conftest.py)


def heartbeat_of(html: str, worker: str) -> re.Match:
    start = html.index(f'data-worker="{worker}"')
    found = AGE.search(html, start)
    assert found, f"no heartbeat age for {worker}"
    return found


EXPECTED = {"a-dev": ("hb-ok", ""), "a-qa": ("hb-late", "late"), "a-lead": ("hb-missed", "missed")}
EXPECTED["a-ops"] = ("hb-missed", "missed")


@pytest.mark.parametrize("path", ["/teams/team-a/", "/workers/?team=team-a"])
def test_lists_colour_each_age_by_its_health_and_name_it(login_client, ages, path):
    html = login_client("root").get(path).content.decode()
    for worker, (cls, label) in EXPECTED.items():
        age = heartbeat_of(html, worker)
        assert (age["cls"], age["label"]) == (cls, label), worker
        assert age["value"] == cls.removeprefix("hb-") and age["interval"] == "30"
        assert age["title"] == "reports every 30 s: late after 45 s, missed after 90 s"


def test_the_worker_page_colours_the_age_and_gives_the_script_its_clock(login_client, ages):
    for worker, (cls, label) in EXPECTED.items():
        age = heartbeat_of(login_client("root").get(f"/workers/{worker}/").content.decode(), worker)
        assert (age["cls"], age["label"]) == (cls, label), worker
    moment = Worker.objects.get(name="a-qa").last_heartbeat
    age = heartbeat_of(login_client("root").get("/workers/a-qa/").content.decode(), "a-qa")
    assert age["since"] == moment.isoformat()


def test_a_worker_not_expected_to_report_is_not_judged(login_client, ages):
    Worker.objects.filter(name="a-qa").update(state="Sleeping", phase="Sleeping")
    age = heartbeat_of(login_client("root").get("/workers/a-qa/").content.decode(), "a-qa")
    assert (age["cls"], age["since"]) == ("hb-ok", None)  # nothing for the script to tick either


def test_a_live_row_carries_the_same_health_and_the_clock(ages):
    qa = Worker.objects.select_related("team").get(name="a-qa")
    assert worker_row(qa)["heartbeat"] == {"health": "late", "since": qa.last_heartbeat.isoformat(), "interval": 30}
    assert worker_row(Worker.objects.select_related("team").get(name="a-ops"))["heartbeat"]["health"] == "missed"
