"""The workspace browser in a real browser: Debian's chromium driven by Playwright against the
real ASGI app (HTTP and WebSocket) and the storage it reads, the test's filesystem storage.

Files are written straight into the workers' storage prefixes, as their agents' syncs
would, and the open page must show them within two seconds without a reload.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from controller.clients.storage import get_storage
from controller.models import DebugJob
from tests.ui.conftest import off_the_browser_thread
from tests.ui.debug_browser import NAME, allow, mount

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_WITHIN_MS = 2000
URL = f"/debug/{NAME}/workspaces/"
NO_RELOAD = "() => window.__stillTheSamePage === true"


def source(page, area: str, target: str):
    return page.locator(f'[data-source-area="{area}"][data-source-target="{target}"]')


def open_browser(dashboard, login: str):
    page = dashboard.page(login)
    page.goto(dashboard.url + URL)
    expect(page.locator("[data-browser-status]")).to_have_text("live")
    page.evaluate("() => { window.__stillTheSamePage = true; }")
    return page


def test_an_allowed_user_watches_both_workspaces_change_live(debugworker, dashboard):
    storage = get_storage()
    page = open_browser(dashboard, "carol")
    expect(source(page, "workspace", "a-dev").locator("li")).to_have_count(3)
    expect(source(page, "workspace", "a-qa").locator("li")).to_have_count(1)
    expect(page.get_by_text("secret.txt")).to_have_count(0)  # a-ops is not mounted

    page.get_by_role("link", name="notes.md").click()
    viewer = page.locator("[data-viewer]")
    expect(viewer.locator(".markdown h1")).to_have_text("Notes")
    expect(viewer.locator("script")).to_have_count(0)

    storage.put("agents/a-qa/fresh.txt", b"first version\n")
    fresh = source(page, "workspace", "a-qa").locator('li[data-path="fresh.txt"]')
    expect(fresh).to_be_visible(timeout=LIVE_WITHIN_MS)

    fresh.get_by_role("link").click()
    expect(viewer.locator("pre")).to_have_text("first version\n")
    storage.put("agents/a-qa/fresh.txt", b"second version, longer\n")
    expect(viewer.locator("pre")).to_have_text("second version, longer\n", timeout=LIVE_WITHIN_MS)
    storage.delete("agents/a-qa/fresh.txt")
    expect(fresh).to_have_count(0, timeout=LIVE_WITHIN_MS)
    expect(viewer).to_contain_text("fresh.txt was deleted", timeout=LIVE_WITHIN_MS)
    assert page.evaluate(NO_RELOAD)
    page.get_by_role("link", name="state.json").click()
    expect(viewer.locator("pre")).to_contain_text('"b": 1,')
    dashboard.screenshot(page, "debug-workspaces")

    # A worker mounted while the page is open shows as a new workspace.
    off_the_browser_thread(mount, NAME, ["a-dev", "a-qa", "a-ops"])
    expect(source(page, "workspace", "a-ops").locator('li[data-path="secret.txt"]')).to_be_visible(
        timeout=LIVE_WITHIN_MS
    )
    off_the_browser_thread(mount, NAME, ["a-dev", "a-qa"])
    expect(source(page, "workspace", "a-ops").locator("li")).to_have_count(0, timeout=LIVE_WITHIN_MS)


def test_access_withdrawn_while_open_closes_the_socket(debugworker, dashboard):
    page = open_browser(dashboard, "carol")
    off_the_browser_thread(allow, NAME, ["someone-else"])
    expect(page.locator("[data-browser-status]")).to_have_text("not live: no access", timeout=LIVE_WITHIN_MS * 3)
    assert page.evaluate(NO_RELOAD)


def test_a_login_not_allowed_gets_a_404_and_a_closed_socket(debugworker, dashboard):
    page = dashboard.page("alice")  # team-a's admin, not in allowedUsers
    answer = page.goto(dashboard.url + URL)
    assert answer is not None and answer.status == 404
    page.goto(dashboard.url + "/")
    code = page.evaluate(
        """(path) => new Promise((resolve) => {
            const socket = new WebSocket(`ws://${location.host}${path}`);
            socket.addEventListener("message", () => resolve("message"));
            socket.addEventListener("close", (event) => resolve(event.code));
        })""",
        f"/ws/debug/{NAME}/",
    )
    assert code == 4404


def finish(job_id: str, key: str) -> None:
    DebugJob.objects.filter(pk=job_id).update(
        state=DebugJob.State.DONE, progress=100, message="1 file written", outputs=[key], finished_at=timezone.now()
    )


def test_a_report_is_started_and_followed_until_it_is_done(debugworker, dashboard):
    page = open_browser(dashboard, "carol")
    page.get_by_label("Hours back").fill("6")
    page.get_by_label("Worker (reports only)").select_option("a-qa")
    page.get_by_role("button", name="Generate report").click()
    expect(page.locator("[data-action-result]")).to_contain_text("report queued")
    job = page.locator("[data-jobs] article").first
    expect(job).to_contain_text("of a-qa, last 6 h")
    job_id = job.get_attribute("data-job")
    assert job_id
    off_the_browser_thread(lambda: DebugJob.objects.filter(pk=job_id).update(state="Running", progress=40))
    expect(job.locator("progress")).to_have_attribute("value", "40", timeout=LIVE_WITHIN_MS * 2)

    key = f"debug/{NAME}/output/a-qa-report.md"
    get_storage().put(key, b"# Report on a-qa\n")
    off_the_browser_thread(finish, job_id, key)
    expect(job.locator(".badge")).to_have_text("Done", timeout=LIVE_WITHIN_MS * 2)
    # The new report shows in the tree (the watcher lists the outputs too) and opens.
    expect(source(page, "output", "output").locator('li[data-path="a-qa-report.md"]')).to_be_visible()
    job.get_by_role("link", name=key).click()
    expect(page.locator("[data-viewer] h1")).to_have_text("Report on a-qa")


def test_a_bad_job_request_names_its_field(debugworker, dashboard):
    page = open_browser(dashboard, "carol")
    page.get_by_label("Worker (reports only)").select_option("a-dev")
    page.get_by_role("button", name="Export messages").click()
    expect(page.locator('[data-error-for="worker"]')).to_contain_text("only a report is about one worker")
