"""Rows that come and go on a list of several pages, and the bulk actions' count.

The lists are in name order: a new worker is inserted on the page its name falls on,
and the other pages only say that there is something new; every page's counts follow.
The bulk forms ask about the current count, and the server refuses a count that no
longer matches (nothing done), so what is confirmed is what is acted on.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from controller.models import Worker
from controller.services.apply import apply_text
from tests.ui.conftest import off_the_browser_thread, settle
from tests.ui.test_browser import NO_RELOAD, open_live
from tests.ui.test_bulk_actions import JSON, states
from tests.ui.test_live_browser import WITHIN, confirm

pytestmark = pytest.mark.django_db(transaction=True)

STANDALONE = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: %s}\nspec: {model: qwen}\n"


@pytest.fixture
def four_a_page(settings):
    """Seven workers for root: a-dev a-lead a-ops a-qa | b-dev b-lead solo."""
    settings.HICLAW_DASHBOARD_PAGE_SIZE = 4


def test_a_worker_added_to_a_two_page_list_appears_on_its_page_only(four_a_page, dashboard):
    first = open_live(dashboard, "root", "/workers/")
    second = open_live(dashboard, "root", "/workers/?page=2")
    for page in (first, second):
        expect(page.locator(".pager")).to_contain_text("7 in all")
    expect(second.locator("tbody tr")).to_have_count(3)

    off_the_browser_thread(apply_text, STANDALONE % "b-extra")  # b-dev < b-extra < b-lead: page 2

    added = second.locator('tbody tr[data-worker="b-extra"]')
    expect(added).to_be_visible(timeout=WITHIN)
    expect(second.locator("tbody tr").nth(1)).to_have_attribute("data-worker", "b-extra")
    for page in (first, second):
        expect(page.locator(".pager")).to_contain_text("8 in all", timeout=WITHIN)
        expect(page.locator(".bulk")).to_contain_text("All 8 matching")
    expect(first.locator("tbody tr")).to_have_count(4)
    expect(first.locator('tr[data-worker="b-extra"]')).to_have_count(0)
    expect(first.get_by_role("link", name="1 new on other pages — reload")).to_be_visible()

    off_the_browser_thread(lambda: Worker.objects.filter(name="b-extra").delete())
    expect(added).to_have_count(0, timeout=WITHIN)
    for page in (first, second):
        expect(page.locator(".pager")).to_contain_text("7 in all", timeout=WITHIN)
    expect(first.locator("[data-live-more]")).to_be_hidden()
    assert first.evaluate(NO_RELOAD) and second.evaluate(NO_RELOAD)


def test_a_name_after_the_last_lands_on_the_last_page_and_not_the_first(four_a_page, dashboard):
    first = open_live(dashboard, "root", "/workers/")
    last = open_live(dashboard, "root", "/workers/?page=2")
    off_the_browser_thread(apply_text, STANDALONE % "zed")
    expect(last.locator("tbody tr").last).to_have_attribute("data-worker", "zed", timeout=WITHIN)
    expect(first.locator(".pager")).to_contain_text("8 in all", timeout=WITHIN)
    expect(first.locator('tr[data-worker="zed"]')).to_have_count(0)


def test_the_bulk_question_counts_a_worker_added_live_and_acts_on_it(dashboard):
    page = open_live(dashboard, "root", "/workers/?team=-")
    expect(page.locator("tbody tr")).to_have_count(1)
    off_the_browser_thread(apply_text, STANDALONE % "lonely")
    expect(page.locator("tbody tr")).to_have_count(2, timeout=WITHIN)

    page.get_by_role("button", name="Sleep", exact=True).click()
    expect(page.get_by_role("dialog")).to_contain_text("Sleep the 2 workers these filters match?")
    confirm(page, "Sleep")
    expect(page.locator("[data-action-result]")).to_have_text(re.compile("^2 workers put to sleep"))
    assert off_the_browser_thread(states, "solo", "lonely") == {"solo": "Sleeping", "lonely": "Sleeping"}


def test_a_stale_count_is_refused_in_the_page_and_the_next_question_has_the_current_one(dashboard):
    off_the_browser_thread(lambda: (apply_text(STANDALONE % "lonely"), settle(["lonely"])))
    page = open_live(dashboard, "root", "/workers/?team=-&phase=running")
    expect(page.locator("tbody tr")).to_have_count(2)
    # A change no notice reports (a queryset update): the page still counts 2.
    off_the_browser_thread(lambda: Worker.objects.filter(name="lonely").update(phase="Failed"))
    sleep = page.get_by_role("button", name="Sleep", exact=True)
    sleep.click()
    expect(page.get_by_role("dialog")).to_contain_text("Sleep the 2 workers these filters match?")
    confirm(page, "Sleep")
    expect(page.locator("[data-action-result]")).to_contain_text("These filters match 1 worker now, not the 2")
    assert off_the_browser_thread(states, "solo", "lonely") == {"solo": "Running", "lonely": "Running"}
    sleep.click()
    expect(page.get_by_role("dialog")).to_contain_text("Sleep the 1 worker these filters match?")
    confirm(page, "Sleep")
    expect(page.locator("[data-action-result]")).to_have_text(re.compile("^1 worker put to sleep"))
    assert off_the_browser_thread(states, "solo", "lonely") == {"solo": "Sleeping", "lonely": "Running"}


def test_a_confirmed_count_the_filters_no_longer_match_does_nothing(login_client):
    client = login_client("root")
    apply_text(STANDALONE % "lonely")
    answer = client.post("/bulk/workers/sleep/", {"team": "-", "count": "1", "confirmed": "1"}, **JSON)
    assert answer.status_code == 409
    assert answer.json()["message"].startswith("These filters match 2 workers now, not the 1 you confirmed")
    assert answer.json()["count"] == 2
    assert states("solo", "lonely") == {"solo": "Running", "lonely": "Running"}
    answer = client.post("/bulk/workers/sleep/", {"team": "-", "count": "2", "confirmed": "1"}, **JSON)
    assert answer.json()["ok"] and states("solo", "lonely") == {"solo": "Sleeping", "lonely": "Sleeping"}
