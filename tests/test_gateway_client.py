"""Gateway client tests, run against an in-test stand-in of the Higress console API.

No Higress gateway or console can be had here (no installable binary), so ``tests/gateway_standin.py`` serves
the console endpoints the client uses, with the console's JSON shapes and session-cookie login, and
counts requests so idempotency is asserted as "no write on the second call".
"""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest

from controller.clients.gateway import (
    DisabledGateway,
    GatewayClient,
    GatewayError,
    GatewayUnavailable,
    get_gateway,
    route_name,
)
from tests.gateway_standin import HigressStandin

PASSWORD = "console-pass-9f2c"
KEY = "sk-worker-alice-0a1b2c"
ALICE = "hiclaw-worker-alice"
BOB = "hiclaw-worker-bob"
MANAGER = "hiclaw-manager"
PROVIDER = "openai-main"


@pytest.fixture
def console():
    with HigressStandin(password=PASSWORD) as standin:
        standin.add_provider(PROVIDER)
        standin.add_mcp_server("github", consumers=[MANAGER])
        standin.add_mcp_server("search")
        yield standin


@pytest.fixture
def gateway(console):
    return GatewayClient(console.url, "admin", PASSWORD, timeout=2)


def _key_of(console: HigressStandin, name: str) -> list[str]:
    return console.consumers[name]["credentials"][0]["values"]


# --- consumers ----------------------------------------------------------------------------------
def test_ensure_consumer_creates_a_bearer_key_auth_consumer(console, gateway):
    gateway.ensure_consumer(ALICE, KEY)

    assert console.consumers[ALICE]["credentials"][0]["source"] == "BEARER"
    assert _key_of(console, ALICE) == [KEY]
    assert console.count("POST", "/v1/consumers") == 1


def test_ensure_consumer_twice_with_the_same_key_writes_nothing_the_second_time(console, gateway):
    gateway.ensure_consumer(ALICE, KEY)
    console.requests.clear()

    gateway.ensure_consumer(ALICE, KEY)

    assert console.writes() == 0


def test_ensure_consumer_with_a_new_key_replaces_the_old_one(console, gateway):
    gateway.ensure_consumer(ALICE, KEY)

    gateway.ensure_consumer(ALICE, "sk-rotated")

    assert _key_of(console, ALICE) == ["sk-rotated"]
    assert console.count("PUT", f"/v1/consumers/{ALICE}") == 1


def test_delete_consumer_is_idempotent(console, gateway):
    gateway.ensure_consumer(ALICE, KEY)

    gateway.delete_consumer(ALICE)
    console.requests.clear()
    gateway.delete_consumer(ALICE)

    assert ALICE not in console.consumers
    assert console.writes() == 0


def test_delete_consumer_first_takes_it_off_the_ai_routes_that_allow_it(console, gateway):
    gateway.ensure_consumer(ALICE, KEY)
    gateway.ensure_consumer(BOB, "sk-bob")
    route = gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER, consumers=[ALICE, BOB])

    gateway.delete_consumer(ALICE)

    assert ALICE not in console.consumers
    assert console.routes[route]["authConfig"]["allowedConsumers"] == [BOB]


# --- MCP servers --------------------------------------------------------------------------------
def test_authorize_mcp_adds_the_consumer_and_keeps_the_other_consumers(console, gateway):
    gateway.authorize_mcp(ALICE, ["github", "search"])

    assert console.mcp_servers == {"github": [MANAGER, ALICE], "search": [ALICE]}


def test_authorize_mcp_twice_writes_nothing_the_second_time(console, gateway):
    gateway.authorize_mcp(ALICE, ["github", "search"])
    console.requests.clear()

    gateway.authorize_mcp(ALICE, ["github", "search"])

    assert console.writes() == 0


def test_authorize_mcp_is_not_fooled_by_a_consumer_whose_name_contains_ours(console, gateway):
    # The console filters consumerName by substring: "hiclaw-worker-alice-2" matches "hiclaw-worker-alice".
    console.add_mcp_server("docs", consumers=[f"{ALICE}-2"])

    gateway.authorize_mcp(ALICE, ["docs"])

    assert console.mcp_servers["docs"] == [f"{ALICE}-2", ALICE]


def test_revoke_mcp_removes_only_that_consumer(console, gateway):
    gateway.authorize_mcp(ALICE, ["github", "search"])

    gateway.revoke_mcp(ALICE, ["github"])
    console.requests.clear()
    gateway.revoke_mcp(ALICE, ["github"])

    assert console.mcp_servers == {"github": [MANAGER], "search": [ALICE]}
    assert console.writes() == 0


# --- AI routes ----------------------------------------------------------------------------------
def test_ensure_ai_route_creates_a_key_auth_route_for_the_model(console, gateway):
    name = gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER, consumers=[ALICE])

    route = console.routes[name]
    assert name == "hiclaw-qwen-max"
    assert route["upstreams"][0]["provider"] == PROVIDER
    assert route["modelPredicates"][0]["matchValue"] == "qwen-max"
    assert route["authConfig"]["enabled"] is True
    assert route["authConfig"]["allowedConsumers"] == [ALICE]


def test_ensure_ai_route_twice_writes_nothing_the_second_time(console, gateway):
    gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER, consumers=[ALICE])
    console.requests.clear()

    gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER, consumers=[ALICE])

    assert console.writes() == 0


def test_ensure_ai_route_for_a_second_worker_adds_it_next_to_the_first(console, gateway):
    gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER, consumers=[ALICE])

    name = gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER, consumers=[BOB])

    assert console.routes[name]["authConfig"]["allowedConsumers"] == [ALICE, BOB]


def test_allow_and_disallow_consumer_on_route_touch_only_that_consumer(console, gateway):
    name = gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER, consumers=[MANAGER])

    gateway.allow_consumer_on_route(name, ALICE)
    gateway.allow_consumer_on_route(name, ALICE)
    assert console.routes[name]["authConfig"]["allowedConsumers"] == [MANAGER, ALICE]

    gateway.disallow_consumer_on_route(name, ALICE)
    gateway.disallow_consumer_on_route(name, ALICE)
    assert console.routes[name]["authConfig"]["allowedConsumers"] == [MANAGER]
    assert console.count("PUT", f"/v1/ai/routes/{name}") == 2


def test_allow_consumer_on_a_missing_route_is_a_permanent_error(gateway):
    with pytest.raises(GatewayError, match="does not exist") as excinfo:
        gateway.allow_consumer_on_route("hiclaw-nope", ALICE)

    assert not isinstance(excinfo.value, GatewayUnavailable)


def test_ensure_ai_route_with_an_unknown_provider_is_a_permanent_error_naming_the_route(gateway):
    with pytest.raises(GatewayError, match=r"hiclaw-qwen-max.*Unknown provider") as excinfo:
        gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider="nope", consumers=[ALICE])

    assert not isinstance(excinfo.value, GatewayUnavailable)


def test_route_names_are_dns_labels_that_keep_distinct_models_apart():
    names = [route_name("hiclaw-", m) for m in ("gpt-4.o", "GPT-4-o", "gpt-4-o", "Qwen/Qwen3.5-Plus", "m" * 100)]

    assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", n) for n in names)
    assert len(set(names)) == len(names)
    assert route_name("hiclaw-", "gpt-4-o") == "hiclaw-gpt-4-o"


# --- sessions and failures ----------------------------------------------------------------------
def test_an_expired_session_is_renewed_by_logging_in_again(console, gateway):
    gateway.ping()
    console.expire_sessions()

    gateway.ensure_consumer(ALICE, KEY)

    assert _key_of(console, ALICE) == [KEY]
    assert console.count("POST", "/session/login") == 2


def test_a_failing_console_raises_gateway_unavailable_without_the_key(console, gateway):
    gateway.ping()
    console.fail_status = 503

    with pytest.raises(GatewayUnavailable) as excinfo:
        gateway.ensure_consumer(ALICE, KEY)

    assert "503" in str(excinfo.value)
    assert KEY not in str(excinfo.value)


def test_an_unreachable_console_raises_gateway_unavailable_quickly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below, so nothing listens there
    gateway = GatewayClient(f"http://127.0.0.1:{port}", "admin", PASSWORD, timeout=2)

    started = time.monotonic()
    with pytest.raises(GatewayUnavailable, match="unreachable"):
        gateway.ensure_consumer(ALICE, KEY)

    assert time.monotonic() - started < 2


def test_a_wrong_password_is_a_permanent_error_naming_the_login(console):
    gateway = GatewayClient(console.url, "admin", "wrong-password", timeout=2)

    with pytest.raises(GatewayError, match=r"log in .* as 'admin'.*HTTP 401") as excinfo:
        gateway.ping()

    assert not isinstance(excinfo.value, GatewayUnavailable)
    assert "wrong-password" not in str(excinfo.value)


def test_logs_never_show_the_password_or_an_api_key(console, gateway, caplog):
    caplog.set_level(logging.DEBUG)

    gateway.ensure_consumer(ALICE, KEY)
    gateway.ensure_consumer(ALICE, "sk-rotated")
    console.expire_sessions()
    gateway.authorize_mcp(ALICE, ["github"])
    gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER, consumers=[ALICE])

    assert caplog.records
    assert not any(s in caplog.text for s in (PASSWORD, KEY, "sk-rotated"))
    assert PASSWORD not in repr(gateway)


# --- disabled gateway and settings --------------------------------------------------------------
def test_the_disabled_gateway_does_nothing_and_says_so():
    gateway = DisabledGateway()

    assert gateway.enabled is False
    gateway.ping()
    gateway.ensure_consumer(ALICE, KEY)
    gateway.authorize_mcp(ALICE, ["github"])
    gateway.revoke_mcp(ALICE, ["github"])
    gateway.allow_consumer_on_route("hiclaw-qwen-max", ALICE)
    gateway.disallow_consumer_on_route("hiclaw-qwen-max", ALICE)
    gateway.delete_consumer(ALICE)
    assert gateway.ensure_ai_route("qwen-max", prefix="hiclaw-", provider=PROVIDER) == "hiclaw-qwen-max"


def test_get_gateway_is_disabled_without_a_url_and_real_with_one(settings, console):
    settings.HICLAW_GATEWAY_URL = ""
    assert isinstance(get_gateway(), DisabledGateway)

    settings.HICLAW_GATEWAY_URL = console.url
    settings.HICLAW_GATEWAY_USER = "admin"
    settings.HICLAW_GATEWAY_PASSWORD = PASSWORD
    gateway = get_gateway()
    assert gateway.enabled is True
    gateway.ping()
    assert get_gateway() is gateway
