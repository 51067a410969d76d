"""The Managers and Humans pages, a Manager's and a DebugWorker's page, live in a real
browser: a phase changes, a Manager or a Human appears and leaves, a login shows in the
Humans page's "Dashboard login" column, all without a reload."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from controller.models import DebugWorker, Human, Manager
from controller.services.apply import apply_text
from tests.ui.conftest import off_the_browser_thread
from tests.ui.test_browser import NO_RELOAD, open_live
from tests.ui.test_live_browser import WITHIN

pytestmark = pytest.mark.django_db(transaction=True)

MANAGER = "apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: %s}\nspec: {model: qwen}\n"
HUMAN = (
    "apiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: dana}\n"
    "spec: {displayName: Dana, permissionLevel: 3, accessibleTeams: [team-a]}\n"
)


def _set(model, name: str, **fields) -> None:
    row = model.objects.get(name=name)
    for field, value in fields.items():
        setattr(row, field, value)
    row.save(update_fields=list(fields))


def test_a_debugworkers_phase_and_message_change_on_its_page(debugworker, dashboard):
    page = open_live(dashboard, "alice", "/debug/a-debug/")
    badge = page.locator('[data-debugworker="a-debug"] h1 [data-field="phase"]')
    note = page.locator('[data-debugworker="a-debug"] [data-field="message"]')
    expect(note).to_be_hidden()
    off_the_browser_thread(lambda: _set(DebugWorker, "a-debug", phase="Failed", message="instance gone"))
    expect(badge).to_have_text("Failed", timeout=WITHIN)
    expect(badge).to_have_attribute("data-value", "Failed")
    expect(note).to_have_text("instance gone")
    assert page.evaluate(NO_RELOAD)


def test_a_manager_appears_changes_and_leaves_without_reload(dashboard):
    off_the_browser_thread(apply_text, MANAGER % "default")
    listing = open_live(dashboard, "root", "/managers/")
    detail = open_live(dashboard, "root", "/managers/default/")
    rows = listing.locator("table[aria-label=Managers] tbody tr")
    expect(rows).to_have_count(1)
    off_the_browser_thread(apply_text, MANAGER % "backup")
    expect(rows).to_have_count(2, timeout=WITHIN)
    expect(rows.first).to_have_attribute("data-manager", "backup")  # in name order
    off_the_browser_thread(lambda: _set(Manager, "default", phase="Running", container_state="running"))
    expect(detail.locator('h1 [data-field="phase"]')).to_have_text("Running", timeout=WITHIN)
    expect(detail.locator('[data-field="containerState"]')).to_have_text("running")
    expect(listing.locator('tr[data-manager="default"] [data-field="phase"]')).to_have_text("Running")
    off_the_browser_thread(lambda: Manager.objects.filter(name="backup").delete())
    expect(rows).to_have_count(1, timeout=WITHIN)
    assert listing.evaluate(NO_RELOAD) and detail.evaluate(NO_RELOAD)


def test_a_human_and_its_login_appear_on_the_humans_page(dashboard):
    page = open_live(dashboard, "root", "/humans/")
    scoped = open_live(dashboard, "bob", "/humans/")
    rows = page.locator("table[aria-label=Humans] tbody tr")
    expect(rows).to_have_count(1)
    off_the_browser_thread(apply_text, HUMAN)
    expect(rows).to_have_count(2, timeout=WITHIN)
    login = page.locator('tr[data-human="dana"] [data-field="login"]')
    expect(login).to_have_text("—")
    off_the_browser_thread(lambda: get_user_model().objects.create_user("dana", password="x" * 20))
    expect(login).to_have_text("dana (same name)", timeout=WITHIN)
    off_the_browser_thread(lambda: Human.objects.filter(name="dana").delete())
    expect(rows).to_have_count(1, timeout=WITHIN)
    # team-b's admin was never shown team-a's Human.
    expect(scoped.locator("tr[data-human]")).to_have_count(0)
    expect(scoped.get_by_text("None visible to you")).to_be_visible()
    assert page.evaluate(NO_RELOAD)
