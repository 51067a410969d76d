"""The dashboard in a real browser: Debian's chromium driven by Playwright against the real
ASGI app (HTTP and WebSocket) served in this process. Screenshots of each main page go to
build/screenshots/."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from controller import policy, reconcilers
from controller.models import AgentToken, Heartbeat, Upgrade, Worker
from controller.services import events, operations
from controller.services.apply import apply_text
from tests.ui.conftest import PASSWORD, off_the_browser_thread

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_WITHIN_MS = 2000
NO_RELOAD = "() => window.__stillTheSamePage === true"


class DroppableSockets:
    """The page's WebSockets, through a proxy in the test that can drop them and hold
    reconnections back as a restarting server would."""

    def __init__(self, page):
        self.opened: list = []
        self.down = False
        page.route_web_socket(re.compile(r"/ws/"), self._proxy)

    def _proxy(self, socket) -> None:
        if self.down:
            socket.close()
            return
        socket.connect_to_server()
        self.opened.append(socket)

    def drop(self) -> None:
        """Close the open socket and refuse reconnections until ``restore``."""
        self.down = True
        self.opened[-1].close()

    def restore(self) -> None:
        self.down = False


def open_live(dashboard, login: str, path: str):
    page = dashboard.page(login)
    page.goto(dashboard.url + path)
    expect(page.locator("[data-live-status]")).to_have_text("live")
    page.evaluate("() => { window.__stillTheSamePage = true; }")
    return page


def post_heartbeat(url: str, token: str, **report) -> int:
    request = urllib.request.Request(
        f"{url}/api/v1/heartbeats",
        data=json.dumps({"state": "idle", **report}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


def test_team_admin_logs_in_and_sees_only_their_team(dashboard):
    page = dashboard.page()
    page.goto(dashboard.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Teams")).to_be_visible()
    teams = page.locator("table[aria-label=Teams] tbody tr")
    expect(teams).to_have_count(1)
    expect(teams.first).to_have_attribute("data-team", "team-a")
    expect(page.locator("[data-live-status]")).to_have_text("live")
    dashboard.screenshot(page, "overview-team-admin")


def test_admin_overview_shows_every_team_with_its_health(dashboard):
    page = open_live(dashboard, "root", "/")
    expect(page.locator("table[aria-label=Teams] tbody tr")).to_have_count(2)
    expect(page.locator('tr[data-team="team-a"] [data-field="health"]')).to_have_attribute("data-value", "bad")
    expect(page.locator('tr[data-team="team-b"] [data-field="health"]')).to_have_attribute("data-value", "ok")
    dashboard.screenshot(page, "overview")


def test_a_heartbeat_posted_through_the_api_updates_the_open_team_page(dashboard):
    token = off_the_browser_thread(lambda: AgentToken.mint("worker", "a-dev", team="team-a")[1])
    page = open_live(dashboard, "alice", "/teams/team-a/")
    expect(page.locator("table[aria-label='Workers of team-a'] tbody tr")).to_have_count(3)
    age = page.locator('tr[data-worker="a-dev"] [data-field="lastHeartbeat"]')
    expect(age).to_have_text("3 min ago")
    before = age.get_attribute("datetime")

    assert post_heartbeat(dashboard.url, token, skillsVersion="2026.12.0") == 202

    expect(age).not_to_have_attribute("datetime", before, timeout=LIVE_WITHIN_MS)
    expect(age).to_have_text(re.compile(r"^\d s ago$"), timeout=LIVE_WITHIN_MS)
    skills = page.locator('tr[data-worker="a-dev"] [data-field="skillsVersion"]')
    expect(skills).to_have_text("2026.12.0", timeout=LIVE_WITHIN_MS)
    assert page.evaluate(NO_RELOAD)

    def history() -> None:  # what the team's timeline card shows (and the README's screenshot)
        events.record("Worker", "a-qa", "Slept", "idle for 42 min; the sweeper put it to sleep", team="team-a")
        events.record("Worker", "a-ops", "HeartbeatsMissed", "no heartbeat for 3 min", team="team-a", warning=True)
        events.record("Worker", "a-dev", "ConfigPushed", "skills 2026.12.0 written", team="team-a")

    off_the_browser_thread(history)
    timeline = page.locator("[data-events-url] [data-live-events]")
    expect(timeline).to_contain_text("ConfigPushed", timeout=LIVE_WITHIN_MS)
    expect(timeline).to_contain_text("HeartbeatsMissed")
    dashboard.screenshot(page, "team")


def test_sleep_asks_for_confirmation_and_the_phase_turns_sleeping_live(dashboard):
    page = open_live(dashboard, "alice", "/teams/team-a/")
    row = page.locator('tr[data-worker="a-qa"]')
    row.get_by_role("button", name="Sleep a-qa").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Put a-qa to sleep?")
    dashboard.screenshot(page, "confirm-sleep")
    dialog.get_by_role("button", name="Sleep").click()

    result = page.locator("[data-action-result]")
    expect(result).to_contain_text("a-qa: sleeping (desired state Sleeping)")
    # Beside the control that asked: inside the worker's own row, right after its form.
    expect(row.locator("[data-action-result]")).to_have_count(1)
    assert result.evaluate("(el) => el.previousElementSibling.matches('form.act-sleep')")
    expect(row.locator('[data-field="state"]')).to_have_text("Sleeping", timeout=LIVE_WITHIN_MS)
    expect(row.locator('[data-field="phase"]')).to_have_text("Running")
    # No Celery worker runs here: the reconcile the action queued is run by hand, and
    # publishes its result like any other.
    off_the_browser_thread(reconcilers.reconcile, "Worker", "a-qa")
    expect(row.locator('[data-field="phase"]')).to_have_text("Sleeping", timeout=LIVE_WITHIN_MS)
    expect(row.get_by_role("button", name="Wake a-qa")).to_be_visible()
    assert page.evaluate(NO_RELOAD)


def test_another_teams_admin_cannot_open_team_a(dashboard):
    page = dashboard.page("bob")
    response = page.goto(dashboard.url + "/teams/team-a/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert page.goto(dashboard.url + "/workers/a-dev/").status == 404


def test_another_teams_admin_cannot_subscribe_to_team_a(dashboard):
    page = open_live(dashboard, "bob", "/teams/team-b/")
    attempt = """(path) => new Promise((resolve) => {
        const socket = new WebSocket(`ws://${location.host}${path}`);
        let messages = 0;
        socket.onmessage = () => { messages += 1; socket.close(); };
        socket.onclose = (event) => resolve({messages, code: event.code});
    })"""
    # Refused with a close code the page can read, and not one row before it.
    assert page.evaluate(attempt, "/ws/teams/team-a/") == {"messages": 0, "code": 4403}
    assert page.evaluate(attempt, "/ws/teams/team-b/")["messages"] == 1


def test_worker_page_shows_an_invalid_image_beside_the_field(dashboard):
    def history() -> None:
        reconcilers.reconcile("Worker", "a-dev")  # conditions, generated files, a running instance
        worker = Worker.objects.get(name="a-dev")
        now = timezone.now()
        Heartbeat.objects.bulk_create(
            Heartbeat(
                worker=worker,
                received_at=now - timedelta(seconds=30 * (40 - index)),
                state="busy" if 10 <= index % 20 < 16 else "idle",
                active_tasks=(index % 20 - 9) if 10 <= index % 20 < 16 else 0,
                runtime_version="reference-0.1.0",
            )
            for index in range(40)
            if not 20 <= index < 27  # silent for 4 min: a gap on the chart
        )

    off_the_browser_thread(history)
    page = open_live(dashboard, "alice", "/workers/a-dev/")
    expect(page.get_by_role("heading", name="Conditions")).to_be_visible()
    expect(page.locator("svg[role=img] rect.busy")).to_have_count(12)
    page.get_by_label("Image", exact=True).fill("Not An Image!")
    page.get_by_role("button", name="Roll out image").click()
    page.get_by_role("dialog").get_by_role("button", name="Roll out image").click()
    error = page.locator('[data-error-for="image"]')
    expect(error).to_contain_text("image: must be an image reference")
    expect(page.get_by_label("Image", exact=True)).to_have_attribute("aria-invalid", "true")
    dashboard.screenshot(page, "worker")


def test_upgrades_debugworker_and_no_role_pages(dashboard):
    def fixtures() -> None:
        operations.request_push(policy.Principal(policy.ADMIN, "root"), team="team-a")
        done = operations.request_push(policy.Principal(policy.ADMIN, "root"), worker="a-ops")
        Upgrade.objects.filter(pk=done.pk).update(state="Done")
        apply_text(
            "apiVersion: hiclaw.io/v1beta1\nkind: DebugWorker\nmetadata: {name: team-a-debug}\n"
            "spec: {target: {type: team, name: team-a}, retention: 24h}\n"
        )

    off_the_browser_thread(fixtures)
    page = dashboard.page("alice")
    page.goto(dashboard.url + "/upgrades/")
    expect(page.locator("table[aria-label='Upgrades'] tbody[data-upgrade]")).to_have_count(2)
    dashboard.screenshot(page, "upgrades")
    page.goto(dashboard.url + "/debug/team-a-debug/")
    expect(page.get_by_role("heading", name="Mounted workspaces")).to_be_visible()
    dashboard.screenshot(page, "debugworker")
    carol = dashboard.page("carol")
    carol.goto(dashboard.url + "/")
    expect(carol.get_by_role("heading", name="You have no teams")).to_be_visible()
    dashboard.screenshot(carol, "no-role")


def test_the_page_reconnects_after_a_drop_and_catches_up(dashboard):
    token = off_the_browser_thread(lambda: AgentToken.mint("worker", "a-qa", team="team-a")[1])
    page = dashboard.page("alice")
    sockets = DroppableSockets(page)
    page.goto(dashboard.url + "/teams/team-a/")
    status = page.locator("[data-live-status]")
    expect(status).to_have_text("live")
    page.evaluate("() => { window.__stillTheSamePage = true; }")

    sockets.drop()
    expect(status).to_have_text("reconnecting…")
    # Missed while the connection was down: the snapshot sent on reconnect brings it.
    assert post_heartbeat(dashboard.url, token, skillsVersion="2026.12.5") == 202
    sockets.restore()
    expect(status).to_have_text("live", timeout=10_000)
    skills = page.locator('tr[data-worker="a-qa"] [data-field="skillsVersion"]')
    expect(skills).to_have_text("2026.12.5", timeout=LIVE_WITHIN_MS)
    assert len(sockets.opened) == 2
    assert page.evaluate(NO_RELOAD)


def test_the_heartbeat_age_turns_late_then_missed_as_it_ticks(dashboard, settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 4  # late after 6 s, missed after 12 s
    token = off_the_browser_thread(lambda: AgentToken.mint("worker", "a-dev", team="team-a")[1])
    page = open_live(dashboard, "alice", "/teams/team-a/")
    heartbeat = page.locator('tr[data-worker="a-dev"] [data-field="heartbeat"]')
    expect(heartbeat).to_have_class(re.compile(r"\bhb-missed\b"))  # silent for 3 minutes
    expect(heartbeat.locator(".hb-label")).to_have_text("missed")

    assert post_heartbeat(dashboard.url, token) == 202
    expect(heartbeat).to_have_class(re.compile(r"\bhb-ok\b"), timeout=LIVE_WITHIN_MS)
    expect(heartbeat.locator(".hb-label")).to_have_text("")
    # No further message comes: the page's own clock moves the colour on.
    expect(heartbeat).to_have_class(re.compile(r"\bhb-late\b"), timeout=10_000)
    expect(heartbeat.locator(".hb-label")).to_have_text("late")
    dashboard.screenshot(page, "heartbeat-late")
    expect(heartbeat).to_have_class(re.compile(r"\bhb-missed\b"), timeout=10_000)
    expect(heartbeat.locator(".hb-label")).to_have_text("missed")
    assert page.evaluate(NO_RELOAD)


def test_an_actions_answer_replaces_the_previous_one_beside_its_own_control(dashboard):
    page = open_live(dashboard, "alice", "/teams/team-a/")
    for worker in ("a-qa", "a-dev"):
        page.locator(f'tr[data-worker="{worker}"]').get_by_role("button", name=f"Sleep {worker}").click()
        page.get_by_role("dialog").get_by_role("button", name="Sleep").click()
        expect(page.locator(f'tr[data-worker="{worker}"] [data-action-result]')).to_contain_text(f"{worker}: sleeping")
    expect(page.locator("[data-action-result]")).to_have_count(1)  # a-qa's answer went with the next action
