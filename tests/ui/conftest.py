"""Dashboard fixtures: two teams and a login per persona, the real ASGI app served by
uvicorn in this process (HTTP and WebSocket), and Debian's chromium driven by Playwright.

Personas, one per kind of login the policy tells apart: ``root`` a superuser; ``alice`` linked to a Human of
level 2 for team-a; ``bob`` named as team-b's ``spec.admin``; ``carol`` a login
with no role.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import Client
from django.utils import timezone

from controller.models import Human, Team, Worker
from controller.services.apply import apply_text
from tests.conftest import ROOT
from tests.helpers import free_port, wait_until
from tests.ui.debug_browser import debugworker  # noqa: F401 (a fixture of the workspace browser's tests)

WORLD = """
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-a}
spec:
  description: Builds and ships the storefront.
  image: hiclaw/worker-agent:1.4.0
  leader:
    name: a-lead
    model: qwen
    permissions: {canScaleWorkers: true, maxWorkers: 5, canSwitchModel: true, allowedModels: [qwen, claude]}
  workers:
    - {name: a-dev, model: qwen, skills: [git]}
    - {name: a-qa, model: qwen}
    - {name: a-ops, model: claude}
---
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-b}
spec:
  admin: {name: bob}
  leader: {name: b-lead, model: qwen}
  workers:
    - {name: b-dev, model: qwen}
---
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {name: solo}
spec: {model: qwen}
---
apiVersion: hiclaw.io/v1beta1
kind: Human
metadata: {name: alice}
spec: {displayName: Alice, permissionLevel: 2, accessibleTeams: [team-a]}
"""
PASSWORD = "correct horse battery staple"
LOGINS = ("root", "alice", "bob", "carol")
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = Path(os.environ.get("HICLAW_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def settle(names: list[str] | None = None, **status: Any) -> None:
    """Give workers the status a reconcile and heartbeats would have given them."""
    now = timezone.now()
    rows = Worker.objects.filter(name__in=names) if names else Worker.objects.all()
    defaults = {
        "phase": "Running",
        "container_state": "Running",
        "last_heartbeat": now - timedelta(minutes=3),
        "skills_version": "2026.11.1",
        "running_image": "hiclaw/worker-agent:1.4.0",
        "room_id": "!room:example.org",
    }
    rows.update(**{**defaults, **status})


@pytest.fixture
def world(db):
    apply_text(WORLD)
    settle()
    settle(["a-qa"], idle_since=timezone.now() - timedelta(minutes=42))
    settle(["a-ops"], heartbeat_missed_since=timezone.now() - timedelta(minutes=9))
    Team.objects.update(phase="Active", team_room_id="!team:example.org")
    users = {}
    for name in LOGINS:
        user = get_user_model().objects.create_user(name, password=PASSWORD, is_superuser=name == "root")
        users[name] = user
    Human.objects.filter(name="alice").update(user=users["alice"])
    return users


@pytest.fixture
def login_client(world) -> Callable[[str], Client]:
    """A Django test client logged in as one of ``LOGINS``."""

    def _client(name: str) -> Client:
        client = Client()
        client.force_login(world[name])
        return client

    return _client


# --- the live server -----------------------------------------------------------------------
@pytest.fixture(scope="session")
def asgi_server(django_db_setup):
    """The project's ASGI application (Django + Channels) served by uvicorn in a thread of this
    process, so the in-memory channel layer carries notices from the API to the browser."""
    import uvicorn

    from hiclaw_site.asgi import application

    opened = weakref.WeakSet()

    def remember(sender, connection, **kwargs) -> None:
        opened.add(connection)

    connection_created.connect(remember)
    port = free_port()
    config = uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()

    def still_running() -> None:
        if not thread.is_alive():
            pytest.fail("uvicorn stopped while starting")

    wait_until(lambda: server.started, 15, "uvicorn to start", check=still_running)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)
    # Pooled connections opened by the server's threads must not hold the test database open.
    connection_created.disconnect(remember)
    # Connections the server's threads left open (Django renders error pages in a thread
    # of the loop's default executor, which never closes its connection) would keep the
    # test database from being dropped.
    for wrapper in list(opened):
        if wrapper.connection is not None:
            wrapper.inc_thread_sharing()
            try:
                wrapper.close()
            finally:
                wrapper.dec_thread_sharing()
    for wrapper in connections.all():
        if hasattr(wrapper, "close_pool"):
            wrapper.close_pool()


# --- the browser ---------------------------------------------------------------------------
class Dashboard:
    """A headless chromium pointed at the live server; one browser context per login."""

    def __init__(self, browser, url: str, cookies: dict[str, str]):
        self.browser, self.url, self.cookies = browser, url, cookies

    def page(self, login: str | None = None, size: tuple[int, int] = (1366, 860), scheme: str = "light"):
        width, height = size
        context = self.browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        context.set_default_timeout(10_000)
        if login is not None:
            cookie = {"name": "sessionid", "value": self.cookies[login], "url": self.url}
            context.add_cookies([cookie])
        return context.new_page()

    def screenshot(self, page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def off_the_browser_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function`` (database work) in a thread of its own and return its result.

    Playwright's sync API keeps an event loop running in the test's thread, where
    Django refuses database calls; a fresh thread has none.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # handed back to the test
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def dashboard(world, asgi_server):
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's chromium. Install it with "
            "`apt-get install -y chromium` (.ci/run does); never `playwright install`."
        )
    from playwright.sync_api import sync_playwright

    # Sessions are made before Playwright starts its event loop in this thread.
    cookies = {}
    for name, user in world.items():
        client = Client()
        client.force_login(user)
        cookies[name] = client.cookies["sessionid"].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield Dashboard(browser, asgi_server, cookies)
        finally:
            browser.close()
