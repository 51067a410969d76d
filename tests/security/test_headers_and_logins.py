"""A Content-Security-Policy on every page, and failed logins throttled per account and per address.

The policy allows scripts, styles, sockets and forms from the controller's own
origin only; nothing inline is needed, so an injected ``<script>`` or handler
would not run. Pages are checked for inline code they would need (dashboard
and admin alike) and, in a real browser, for violations reported while used.

Logins (the dashboard's and the admin's) are throttled with django-axes: after
``HICLAW_LOGIN_FAILURE_LIMIT`` failures an account is locked, and so is the
address they came from, for ``HICLAW_LOGIN_LOCKOUT_MINUTES``; others are not.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.db.models import F
from django.test import Client
from django.urls import reverse

from controller.models import Worker
from tests.ui.conftest import PASSWORD, asgi_server, dashboard, world  # noqa: F401 (fixtures)

INLINE = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.I),
    "event handler attribute": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}
DASHBOARD_PAGES = [
    "/",
    "/teams/team-a/",
    "/workers/",
    "/workers/a-dev/",
    "/upgrades/",
    "/debug/",
    "/managers/",
    "/humans/",
    "/teams/no-such-team/",
]


def policy_of(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def inline_code(html: str) -> list[str]:
    return [f"{what}: {match.group(0)[:120]}" for what, rx in INLINE.items() for match in rx.finditer(html)]


@pytest.fixture
def staff(world):  # noqa: F811
    world["root"].is_staff = True
    world["root"].save(update_fields=["is_staff"])
    client = Client()
    client.force_login(world["root"])
    return client


def admin_urls(client: Client) -> list[str]:
    """The index, and each registered model's list, add form (where allowed) and first object."""
    request = client.get(reverse("admin:index")).wsgi_request
    urls = [reverse("admin:index"), reverse("admin:password_change")]
    for model, model_admin in admin.site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{name}_changelist"))
        if model_admin.has_add_permission(request):
            urls.append(reverse(f"{name}_add"))
        first = model.objects.first()
        if first is not None:
            urls.append(reverse(f"{name}_change", args=[first.pk]))
    return urls


# --- Content-Security-Policy ------------------------------------------------------------------
def test_every_response_carries_a_policy_without_inline_code_or_foreign_origins(staff):
    pages = ("/", "/admin/", "/healthz", "/teams/no-such-team/", "/api/v1/version")
    for response in (*(staff.get(url) for url in pages), Client().get("/accounts/login/")):
        policy = policy_of(response)
        assert policy["default-src"] == "default-src 'self'"
        assert policy["script-src"] == "script-src 'self'"
        assert policy["style-src"] == "style-src 'self'"
        assert policy["object-src"] == "object-src 'none'"
        assert policy["frame-ancestors"] == "frame-ancestors 'none'"
        assert policy["base-uri"] == "base-uri 'none'"
        assert policy["form-action"] == "form-action 'self'"
        assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("url", DASHBOARD_PAGES)
def test_dashboard_pages_need_no_inline_code(staff, url):
    response = staff.get(url)
    assert response.status_code in (200, 404)
    assert inline_code(response.content.decode()) == []


def test_login_page_needs_no_inline_code():
    assert inline_code(Client().get("/accounts/login/").content.decode()) == []
    assert inline_code(Client().get("/admin/login/").content.decode()) == []


def test_admin_pages_need_no_inline_code(staff):
    found = {}
    for url in admin_urls(staff):
        response = staff.get(url)
        assert response.status_code == 200, url
        if problems := inline_code(response.content.decode()):
            found[url] = problems
    assert found == {}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_pages_used_in_a_browser_report_no_policy_violation(dashboard, world):  # noqa: F811
    """Chromium reports what the policy blocked; dashboard and admin pages must report nothing."""
    from tests.ui.conftest import off_the_browser_thread

    def make_staff() -> None:
        world["root"].is_staff = True
        world["root"].save(update_fields=["is_staff"])

    off_the_browser_thread(make_staff)
    root_pk, worker_pk = world["root"].pk, off_the_browser_thread(lambda: Worker.objects.get(name="a-dev").pk)
    violations: list[str] = []

    def visit(page, urls: list[str]) -> None:
        page.on(
            "console", lambda message: violations.append(message.text) if "Security Policy" in message.text else None
        )
        for url in urls:
            page.goto(dashboard.url + url)
            page.wait_for_load_state("networkidle")

    visit(dashboard.page(), ["/accounts/login/", "/admin/login/"])
    visit(
        dashboard.page("root"),
        [
            *DASHBOARD_PAGES,
            "/admin/",
            "/admin/controller/worker/",
            "/admin/controller/worker/add/",
            f"/admin/controller/worker/{worker_pk}/change/",
            "/admin/auth/user/add/",
            f"/admin/auth/user/{root_pk}/change/",
            f"/admin/auth/user/{root_pk}/password/",
            "/admin/axes/accessattempt/",
        ],
    )
    assert violations == []


# --- failed logins ---------------------------------------------------------------------------
def attempt(username: str, password: str, address: str, url: str = "/accounts/login/"):
    return Client(REMOTE_ADDR=address).post(url, {"username": username, "password": password})


def fail(username: str, address: str, times: int | None = None):
    """Failed attempts; each shows the form again until the limit is reached. The last answer."""
    for _ in range((times or settings.AXES_FAILURE_LIMIT) - 1):
        assert attempt(username, "wrong password", address).status_code == 200
    return attempt(username, "wrong password", address)


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def test_an_account_is_locked_after_repeated_failures_with_a_clear_message(world):  # noqa: F811
    assert fail("alice", "10.0.0.1", times=settings.AXES_FAILURE_LIMIT - 1).status_code == 200
    assert fail("alice", "10.0.0.1", times=1).status_code == 429  # the limit-th failure locks
    locked = attempt("alice", PASSWORD, "10.0.0.1")  # even the right password
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed logins" in text and f"{settings.HICLAW_LOGIN_LOCKOUT_MINUTES} minutes" in text
    assert not logged_in(locked)
    assert not logged_in(attempt("alice", PASSWORD, "10.0.0.9"))  # the account, from anywhere


def test_other_accounts_from_other_addresses_are_unaffected(world):  # noqa: F811
    fail("alice", "10.0.0.1")
    assert logged_in(attempt("bob", PASSWORD, "10.0.0.2"))


def test_an_address_spraying_many_accounts_is_locked_and_others_are_not(world):  # noqa: F811
    for index in range(settings.AXES_FAILURE_LIMIT):
        attempt(f"guess-{index}", "wrong password", "10.0.0.3")
    assert attempt("carol", PASSWORD, "10.0.0.3").status_code == 429
    assert logged_in(attempt("carol", PASSWORD, "10.0.0.4"))


def test_the_admin_login_is_throttled_too(world):  # noqa: F811
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt("root", "wrong password", "10.0.0.5", url="/admin/login/")
    assert attempt("root", PASSWORD, "10.0.0.5", url="/admin/login/").status_code == 429


def test_a_login_succeeds_once_the_window_has_passed(world):  # noqa: F811
    fail("alice", "10.0.0.1")
    assert attempt("alice", PASSWORD, "10.0.0.1").status_code == 429
    window = timedelta(minutes=settings.HICLAW_LOGIN_LOCKOUT_MINUTES, seconds=1)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - window)  # the window passes
    assert logged_in(attempt("alice", PASSWORD, "10.0.0.1"))


def test_an_attackers_own_good_login_does_not_reset_the_count_against_another_account(world):  # noqa: F811
    """Guesses at alice's password, interleaved with bob's good logins from the same address."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt("alice", "wrong password", "10.0.0.7").status_code == 200
        assert logged_in(attempt("bob", PASSWORD, "10.0.0.7"))
    assert attempt("alice", "wrong password", "10.0.0.7").status_code == 429
    assert attempt("alice", PASSWORD, "10.0.0.8").status_code == 429
