"""The Upgrades page in a real browser: a rollout's progress moves live, without a reload.

The rollout's rows are made and advanced directly, off the browser thread, as the
service that carries rollouts out would save them (that service is tested on its own)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import off_the_browser_thread
from tests.ui.test_browser import LIVE_WITHIN_MS, NO_RELOAD, open_live
from tests.upgrade_rows import advance, rollout

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rollouts_progress_moves_live_on_the_upgrades_page(dashboard):
    upgrade = off_the_browser_thread(lambda: rollout("team-a", ["a-dev", "a-qa", "a-ops", "a-lead"]).pk)
    page = open_live(dashboard, "alice", "/upgrades/")
    row = page.locator(f'tbody[data-upgrade="{upgrade}"]')
    bar = row.get_by_role("progressbar", name=f"Progress of upgrade {upgrade}")
    expect(bar).to_have_attribute("value", "0")
    expect(row.locator('[data-u="progress"]')).to_have_text("0/4 done")

    off_the_browser_thread(advance, upgrade, "a-dev", "done")
    expect(row.locator('[data-u="progress"]')).to_have_text("1/4 done", timeout=LIVE_WITHIN_MS)
    expect(row.locator('[data-u="state"]')).to_have_text("Running")
    assert bar.evaluate("el => el.value") == 1

    off_the_browser_thread(advance, upgrade, "a-qa", "failed", "image pull failed: manifest unknown")
    failed = row.locator('[data-u="failed"]')
    expect(failed).to_be_visible(timeout=LIVE_WITHIN_MS)
    expect(failed).to_have_text("✖ 1 failed")
    row.get_by_text("Targets (4)").click()
    target = row.locator('tr[data-target="a-qa"]')
    expect(target.locator('[data-t="state"]')).to_have_text("failed")
    expect(target.locator('[data-t="message"]')).to_have_text("image pull failed: manifest unknown")
    off_the_browser_thread(advance, upgrade, "a-ops", "running")
    expect(row.locator('tr[data-target="a-ops"] [data-t="state"]')).to_have_text("running", timeout=LIVE_WITHIN_MS)
    assert page.evaluate(NO_RELOAD)
    dashboard.screenshot(page, "upgrades-live")


def test_an_upgrade_started_after_the_page_loaded_offers_a_reload(dashboard):
    page = open_live(dashboard, "alice", "/upgrades/")
    note = page.locator("[data-upgrades-new]")
    expect(note).to_be_hidden()
    off_the_browser_thread(lambda: rollout("team-a", ["a-dev"]))
    expect(note).to_be_visible(timeout=LIVE_WITHIN_MS)
    assert page.evaluate(NO_RELOAD)
