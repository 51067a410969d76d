"""The "Push config/skills" button in a real browser: a dialog that says nothing restarts,
then the answer on the page and one push recorded."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from controller.models import Upgrade
from tests.ui.conftest import off_the_browser_thread

pytestmark = pytest.mark.django_db(transaction=True)


def test_push_to_a_team_from_its_page(dashboard):
    page = dashboard.page("alice")
    page.goto(dashboard.url + "/teams/team-a/")
    page.get_by_role("button", name="Push config/skills to team team-a").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("every member of team team-a")
    expect(dialog).to_contain_text("nothing restarts")
    dialog.get_by_role("button", name="Push config/skills to team").click()
    expect(page.locator("[data-action-result]")).to_contain_text("push #")
    expect(page.locator("[data-action-result]")).to_contain_text("to 4 workers queued; nothing restarts")
    pushes = off_the_browser_thread(lambda: list(Upgrade.objects.values_list("kind", "target")))
    assert pushes == [("push", "team-a")]
