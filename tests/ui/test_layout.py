"""The dashboard at a phone's, a laptop's and a desktop's width, light and dark: no page
scrolls sideways, tables turn into stacked cards on a phone, secondary row actions sit in a
keyboard-usable menu, and the navigation offers only what the login may see.

Each page is screenshotted to ``HICLAW_SCREENSHOT_DIR`` when set (to pick images for the
README), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from controller import policy
from controller.models import Worker
from controller.services import operations
from controller.services.apply import apply_text
from tests.conftest import ROOT
from tests.ui.conftest import settle
from tests.ui.test_heartbeat_chart_page import reports_with_a_gap

pytestmark = pytest.mark.django_db(transaction=True)

PHONE, LAPTOP, DESKTOP = (390, 844), (1280, 800), (1440, 900)
PAGES = {
    "overview": "/",
    "team": "/teams/team-a/",
    "workers": "/workers/",
    "worker": "/workers/a-dev/",
    "debugworkers": "/debug/",
    "debugworker": "/debug/a-debug/",
    "workspaces": "/debug/a-debug/workspaces/",
    "upgrades": "/upgrades/",
    "humans": "/humans/",
    "managers": "/managers/",
    "manager": "/managers/default/",
}
SCROLLS_SIDEWAYS = "() => document.documentElement.scrollWidth - window.innerWidth"
# Tables (by their label) that stick out of their card or scroll inside it.
SPILLING_TABLES = """() => [...document.querySelectorAll("main table")].filter((table) => {
    const card = table.closest(".card, .scroll");
    const box = (card.classList.contains("scroll") ? card.closest(".card") : card).getBoundingClientRect();
    return table.getBoundingClientRect().right > box.right + 1 || card.scrollWidth > card.clientWidth + 1;
}).map((table) => table.getAttribute("aria-label"))"""


@pytest.fixture
def everything(debugworker) -> None:
    """Heartbeats of every health, two upgrades with targets, a Manager and a second Human
    beside the teams, workers and DebugWorker the fixtures already made."""
    now = timezone.now()
    Worker.objects.filter(name="a-dev").update(last_heartbeat=now - timedelta(seconds=10))
    Worker.objects.filter(name="a-qa").update(last_heartbeat=now - timedelta(seconds=60))
    reports_with_a_gap("a-dev")  # the worker page's chart, with its axes and a gap
    root = policy.Principal(policy.ADMIN, "root")
    operations.request_push(root, team="team-a")
    operations.request_push(root, worker="a-ops")
    apply_text(
        "apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: default}\nspec: {model: claude}\n---\n"
        "apiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: bert}\n"
        "spec: {displayName: Bert Longname-Example, permissionLevel: 2, accessibleTeams: [team-a, team-b]}\n---\n"
        # A long name and a long image, as real ones are: the lists must not widen with them.
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: storefront-release-engineer-2}\n"
        "spec: {model: claude-sonnet-long-context,"
        " image: registry.example.org/platform/hiclaw-worker-agent:1.4.0-rc.2}\n"
    )
    settle(["storefront-release-engineer-2"])


@pytest.fixture
def shots(tmp_path) -> Path:
    where = Path(os.environ.get("HICLAW_SCREENSHOT_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.mark.parametrize(
    ("size", "scheme"),
    [(PHONE, "light"), (LAPTOP, "light"), (DESKTOP, "light"), (PHONE, "dark"), (DESKTOP, "dark")],
    ids=["phone", "laptop", "desktop", "phone-dark", "desktop-dark"],
)
def test_no_page_scrolls_sideways(everything, dashboard, shots, size, scheme):
    page = dashboard.page("root", size=size, scheme=scheme)
    overflowing = {}
    for name, path in PAGES.items():
        assert page.goto(dashboard.url + path).status == 200, path
        page.wait_for_load_state("networkidle")
        extra = page.evaluate(SCROLLS_SIDEWAYS)
        spilling = page.evaluate(SPILLING_TABLES)
        if extra > 0 or spilling:
            overflowing[name] = (extra, spilling)
        page.screenshot(path=str(shots / f"{name}-{size[0]}-{scheme}.png"), full_page=True)
    assert overflowing == {}, f"pages wider than the {size[0]} px window, by px, and tables that spill: {overflowing}"


# Boxes of the heartbeat chart's axis labels, the plot's, and the labels' own text width.
CHART_LABELS = """() => {
    const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; };
    const shown = (sel) => [...document.querySelectorAll(sel)].filter((el) => el.getClientRects().length > 0);
    return {plot: box(document.querySelector(".chart-bars")), x: shown(".chart-x text").map(box),
            y: shown(".chart-y span").map(box)};
}"""


@pytest.mark.parametrize("size", [PHONE, LAPTOP, DESKTOP], ids=["phone", "laptop", "desktop"])
def test_the_heartbeat_charts_labels_stay_apart_and_beside_the_plot(everything, dashboard, size):
    page = dashboard.page("alice", size=size)
    page.goto(dashboard.url + "/workers/a-dev/")
    expect(page.locator("svg[role=img] rect.gap")).to_have_count(1)
    expect(page.locator("svg[role=img]")).to_have_attribute("aria-label", re.compile(r"; 1 gap \("))
    found = page.evaluate(CHART_LABELS)
    left, right, top, bottom = found["plot"]
    assert len(found["x"]) >= 3 and len(found["y"]) == 2, found  # 0 and 3 tasks
    for a, b in zip(found["x"], found["x"][1:], strict=False):
        assert a[1] + 4 <= b[0], f"time labels touch at {size[0]} px: {found['x']}"
    assert all(left - 1 <= x[0] and x[1] <= right + 1 and x[2] >= bottom for x in found["x"]), found
    assert all(y[1] <= left and top - 1 <= y[2] and y[3] <= bottom + 1 for y in found["y"]), found
    assert 4.8 * 16 <= bottom - top <= 6.2 * 16  # its CSS height: not stretched with the width


def test_a_phone_shows_each_worker_as_a_card_with_name_status_heartbeat_and_action(everything, dashboard):
    page = dashboard.page("alice", size=PHONE)
    page.goto(dashboard.url + "/workers/")
    row = page.locator('tr[data-worker="a-qa"]')
    expect(page.locator("table[aria-label=Workers] thead")).to_have_css("position", "absolute")
    expect(row).to_have_css("display", "block")
    expect(row.get_by_role("link", name="a-qa", exact=True)).to_be_visible()
    expect(row.locator('[data-field="phase"]')).to_be_visible()
    expect(row.locator('[data-field="lastHeartbeat"]')).to_be_visible()
    expect(row.get_by_role("button", name="Sleep a-qa")).to_be_visible()
    label = row.locator('td[data-label="Heartbeat"]').evaluate("(cell) => getComputedStyle(cell, '::before').content")
    assert label == '"Heartbeat"'
    expect(row.locator('[data-field="model"]')).to_be_hidden()  # on the worker's own page
    # The same markup is an ordinary table on a wide screen.
    page.set_viewport_size({"width": DESKTOP[0], "height": DESKTOP[1]})
    expect(row).to_have_css("display", "table-row")
    expect(row.locator('[data-field="model"]')).to_be_visible()


def test_secondary_row_actions_sit_in_a_menu_the_keyboard_opens(everything, dashboard):
    page = dashboard.page("alice", size=LAPTOP)
    page.goto(dashboard.url + "/teams/team-a/")
    row = page.locator('tr[data-worker="a-dev"]')
    ensure = row.get_by_role("button", name="Ensure ready a-dev")
    expect(ensure).to_be_hidden()
    more = row.get_by_label("More actions for a-dev")
    more.focus()
    page.keyboard.press("Enter")
    expect(ensure).to_be_visible()
    page.keyboard.press("Tab")
    expect(ensure).to_be_focused()
    ensure.click()
    expect(page.get_by_role("dialog")).to_contain_text("a-dev")


def nav_links(html: str) -> list[str]:
    nav = html[html.index('<nav aria-label="Main">') : html.index("</nav>")]
    return re.findall(r">(\w+)</a>", nav)


def test_the_navigation_offers_only_pages_that_can_show_the_login_something(everything, login_client):
    everyone = ["Teams", "Workers", "DebugWorkers", "Upgrades", "Humans"]
    assert nav_links(login_client("root").get("/").content.decode()) == [*everyone[:4], "Managers", "Humans"]
    assert nav_links(login_client("alice").get("/").content.decode()) == everyone  # a team admin: no Managers
    assert '<nav aria-label="Main">' not in login_client("carol").get("/").content.decode()


def test_every_page_links_the_favicon(everything, login_client):
    html = login_client("alice").get("/teams/team-a/").content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert icon and icon[1].endswith("hiclaw/favicon.svg")
    assert (ROOT / "static" / "hiclaw" / "favicon.svg").read_text().startswith("<svg ")


# The WCAG contrast ratio of an element's text (or, for a dot, its fill) against the first
# opaque background behind it.
CONTRAST = """([selector, fill]) => {
    const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
    const lum = ([r, g, b]) => {
        const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    const behind = (el) => {
        for (let node = fill ? el.parentElement : el; node; node = node.parentElement) {
            const colour = getComputedStyle(node).backgroundColor;
            if (rgb(colour).length < 4 || rgb(colour)[3] > 0) return colour;
        }
        return getComputedStyle(document.body).backgroundColor;
    };
    const el = document.querySelector(selector);
    const front = lum(rgb(fill ? getComputedStyle(el).backgroundColor : getComputedStyle(el).color));
    const back = lum(rgb(behind(el)));
    return (Math.max(front, back) + 0.05) / (Math.min(front, back) + 0.05);
}"""
MARKS = {
    # selector: (minimum ratio, measure the fill rather than the text)
    '[data-worker="a-qa"] .hb-late time': (4.5, False),
    '[data-worker="a-qa"] .hb-late .hb-label': (4.5, False),
    '[data-worker="a-lead"] .hb-missed time': (4.5, False),
    '[data-worker="a-lead"] .hb-missed .hb-label': (4.5, False),
    '[data-worker="a-dev"] .badge[data-value="Running"]': (4.5, False),
    '.page-head .badge[data-value="Active"]': (4.5, False),
    '[data-worker="a-dev"] .dot[data-value="ok"]': (3, True),
    '[data-worker="a-ops"] .dot[data-value="bad"]': (3, True),
    "h2": (4.5, False),
    ".crumbs": (4.5, False),
    "td a": (4.5, False),
    "button.secondary": (4.5, False),
    ".card-head button": (4.5, False),
    "form.field-form button": (4.5, False),
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_heartbeat_status_and_text_colours_keep_aa_contrast(everything, dashboard, settings, scheme):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30  # late after 45 s, missed after 90 s
    page = dashboard.page("root", size=DESKTOP, scheme=scheme)
    page.goto(dashboard.url + "/teams/team-a/")
    page.wait_for_load_state("networkidle")
    low = {}
    for selector, (minimum, fill) in MARKS.items():
        ratio = page.evaluate(CONTRAST, [selector, fill])
        if ratio < minimum:
            low[selector] = round(ratio, 2)
    assert low == {}, f"below WCAG AA in {scheme} mode: {low}"


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_skip_link_and_focus_rings_stay(everything, dashboard, size):
    page = dashboard.page("alice", size=size)
    page.goto(dashboard.url + "/teams/team-a/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= size[0]  # on screen once focused
    expect(skip).to_have_css("outline-style", "solid")
    more = page.get_by_label("More actions for a-dev")
    more.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")  # focus by keyboard, which is what :focus-visible rings
    expect(more).to_be_focused()
    expect(more).to_have_css("outline-style", "solid")
