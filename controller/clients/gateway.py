"""Client of the Higress console API: key-auth consumers, MCP server authorization and AI routes.

Reconcilers use it for the gateway step of an agent (docs/architecture.md, "The Worker reconciler"):
give an agent a gateway consumer, allow it on its MCP servers and on the AI route of its model.
Paths and payloads follow higress-group/higress-console
(``backend/console/.../controller/*Controller.java``, ``backend/sdk/.../model/**``) as the original
HiClaw controller calls them (``hiclaw-controller/internal/gateway/higress.go``):

- ``POST /session/login`` ``{username, password}`` sets the ``_hi_sess`` cookie; 401 means wrong
  credentials or an expired session.
- ``GET|POST /v1/consumers``, ``GET|PUT|DELETE /v1/consumers/{name}``; a consumer is
  ``{name, credentials: [{type: "key-auth", source: "BEARER", values: [key]}]}``. The console refuses
  to delete a consumer still named in an allow-list.
- ``PUT|DELETE /v1/mcpServer/consumers`` ``{mcpServerName, consumers}`` add names to / remove names
  from one MCP server's allow-list; ``GET /v1/mcpServer/consumers?mcpServerName=&consumerName=`` lists
  ``{mcpServerName, consumerName}`` pairs (substring match, so names are compared exactly here).
- ``GET|POST /v1/ai/routes``, ``GET|PUT /v1/ai/routes/{name}``: ``{name, version, pathPredicate,
  upstreams: [{provider, weight, modelMapping}], modelPredicates, authConfig}``; a PUT carries the
  ``version`` its GET returned, else 409.
- ``GET /user/info`` answers only to a valid session (``ping``).

GET answers are wrapped as ``{success, message, data}``; POST/PUT answers differ between console
versions, so only GETs are parsed. Guessed, not confirmed in the console sources we could read: the
``modelPredicates`` entry ``{matchType: "EQUAL", matchValue: model}`` (older consoles used
``{enabled, prefix}``) and ``authConfig.allowedCredentialTypes`` (sent by the original HiClaw). LLM
providers stay the operator's: a route references one by name and the console rejects unknown ones.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

# AI routes become Kubernetes ConfigMap and Ingress names in Higress: keep them one DNS label long.
_ROUTE_NAME_MAX = 63
_AI_ROUTE_PATH_PREFIX = "/v1"  # OpenAI-compatible clients call /v1/chat/completions, as in the original


class GatewayError(Exception):
    """The console refused the request; sending it again unchanged will not help."""


class GatewayUnavailable(GatewayError):
    """The console was unreachable, timed out, failed on its side or saw a concurrent change: retry later."""


def route_name(prefix: str, model: str) -> str:
    """The AI route name for ``model``: the caller's ``prefix`` plus a DNS-safe form of the model name."""
    if not model.strip():
        raise ValueError("model must not be empty")
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    if slug != model or len(prefix) + len(slug) > _ROUTE_NAME_MAX:
        # Distinct models can fold to one slug ("gpt-4.o", "GPT-4-o"); a digest of the original keeps them apart.
        digest = hashlib.sha256(model.encode()).hexdigest()[:8]
        slug = f"{slug[: _ROUTE_NAME_MAX - len(prefix) - 9].rstrip('-')}-{digest}".lstrip("-")
    return prefix + slug


class GatewayClient:
    """Talks to one Higress console with an admin session, logging in lazily and again once on 401."""

    enabled = True

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.timeout = timeout
        self._http = requests.Session()
        self._logged_in = False
        self._login_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GatewayClient({self.base_url!r}, user={self.username!r})"

    # --- consumers -------------------------------------------------------------------------
    def ensure_consumer(self, name: str, api_key: str) -> None:
        """Create key-auth consumer ``name`` or set its key; writes nothing when it already has that key."""
        what = f"ensure gateway consumer {name!r}"
        desired = {"name": name, "credentials": [{"type": "key-auth", "source": "BEARER", "values": [api_key]}]}
        current = self._read(f"/v1/consumers/{_segment(name)}", what, secrets=(api_key,))
        if current is None:
            self._call("POST", "/v1/consumers", what, desired, secrets=(api_key,))
            logger.info("gateway: created consumer %s", name)
        elif _bearer_keys(current) != [api_key]:
            self._call("PUT", f"/v1/consumers/{_segment(name)}", what, desired, secrets=(api_key,))
            logger.info("gateway: replaced the key of consumer %s", name)

    def delete_consumer(self, name: str) -> None:
        """Take consumer ``name`` off every AI route, then delete it; nothing to do once it is gone.

        MCP allow-lists cannot be searched by consumer, so callers ``revoke_mcp`` first.
        """
        what = f"delete gateway consumer {name!r}"
        if self._read(f"/v1/consumers/{_segment(name)}", what) is None:
            return
        # The console answers 500 "still in use" while any allow-list names the consumer.
        for route in self._read("/v1/ai/routes", what) or []:
            if name in _allowed(route):
                self.disallow_consumer_on_route(route["name"], name)
        self._call("DELETE", f"/v1/consumers/{_segment(name)}", what)
        logger.info("gateway: deleted consumer %s", name)

    # --- MCP servers -----------------------------------------------------------------------
    def authorize_mcp(self, consumer: str, mcp_servers: Iterable[str]) -> None:
        """Allow ``consumer`` on each of ``mcp_servers``; the servers' other consumers stay as they are."""
        for server in dict.fromkeys(mcp_servers):
            if not self._mcp_allows(server, consumer):
                body = {"mcpServerName": server, "consumers": [consumer]}
                self._call("PUT", "/v1/mcpServer/consumers", f"allow {consumer!r} on MCP server {server!r}", body)
                logger.info("gateway: allowed consumer %s on MCP server %s", consumer, server)

    def revoke_mcp(self, consumer: str, mcp_servers: Iterable[str]) -> None:
        """Remove ``consumer`` from the allow-list of each of ``mcp_servers``, and only that consumer."""
        for server in dict.fromkeys(mcp_servers):
            if self._mcp_allows(server, consumer):
                body = {"mcpServerName": server, "consumers": [consumer]}
                self._call("DELETE", "/v1/mcpServer/consumers", f"revoke {consumer!r} on MCP server {server!r}", body)
                logger.info("gateway: revoked consumer %s on MCP server %s", consumer, server)

    def _mcp_allows(self, server: str, consumer: str) -> bool:
        params = {"mcpServerName": server, "consumerName": consumer}
        pairs = self._read("/v1/mcpServer/consumers", f"read MCP server {server!r} consumers", params=params)
        return any(pair.get("consumerName") == consumer for pair in pairs or [])

    # --- AI routes -------------------------------------------------------------------------
    def ensure_ai_route(self, model: str, *, prefix: str, provider: str, consumers: Iterable[str] = ()) -> str:
        """Ensure the AI route serving ``model`` through LLM provider ``provider`` allows ``consumers``.

        Returns the route name (``route_name(prefix, model)``). A new route gets key-auth with exactly
        ``consumers``; an existing one only gains those it lacks, so workers sharing a model keep their
        access and operator tuning of upstreams survives.
        """
        name = route_name(prefix, model)
        wanted = list(dict.fromkeys(consumers))
        what = f"ensure AI route {name!r} for model {model!r}"
        route = self._read(f"/v1/ai/routes/{_segment(name)}", what)
        if route is None:
            new_route = _new_route(name, model, provider, wanted)
            created = self._call("POST", "/v1/ai/routes", what, new_route, expect=(409,))
            if created.status_code != 409:
                logger.info("gateway: created AI route %s for model %s", name, model)
                return name
            # Another reconciler created it a moment ago: add our consumers to the route it made.
            route = self._read(f"/v1/ai/routes/{_segment(name)}", what)
            if route is None:
                raise GatewayUnavailable(f"{what}: the console reported the route both existing and missing")
        allowed = _allowed(route)
        missing = [c for c in wanted if c not in allowed]
        if missing:
            self._put_allowed(route, allowed + missing, what)
        return name

    def allow_consumer_on_route(self, route: str, consumer: str) -> None:
        """Add ``consumer`` to the allow-list of AI route ``route``, which must exist."""
        what = f"allow {consumer!r} on AI route {route!r}"
        data = self._read(f"/v1/ai/routes/{_segment(route)}", what)
        if data is None:
            raise GatewayError(f"{what}: the route does not exist; create it with ensure_ai_route first")
        allowed = _allowed(data)
        if consumer not in allowed:
            self._put_allowed(data, [*allowed, consumer], what)

    def disallow_consumer_on_route(self, route: str, consumer: str) -> None:
        """Remove ``consumer`` from the allow-list of AI route ``route``; a missing route is fine."""
        what = f"disallow {consumer!r} on AI route {route!r}"
        data = self._read(f"/v1/ai/routes/{_segment(route)}", what)
        if data is not None and consumer in _allowed(data):
            self._put_allowed(data, [c for c in _allowed(data) if c != consumer], what)

    def _put_allowed(self, route: dict[str, Any], allowed: list[str], what: str) -> None:
        auth = dict(route.get("authConfig") or {})
        auth.setdefault("allowedCredentialTypes", ["key-auth"])
        auth.update(enabled=True, allowedConsumers=allowed)
        # The whole route goes back with the version it was read at; a concurrent writer makes this 409.
        self._call("PUT", f"/v1/ai/routes/{_segment(route['name'])}", what, {**route, "authConfig": auth})
        logger.info("gateway: AI route %s now allows %s", route["name"], ", ".join(allowed) or "nobody")

    # --- health ----------------------------------------------------------------------------
    def ping(self) -> None:
        """Return when the console answers to our session; raise GatewayError (or GatewayUnavailable) otherwise."""
        self._call("GET", "/user/info", "ping the gateway console")

    # --- HTTP ------------------------------------------------------------------------------
    def _read(
        self, path: str, what: str, *, params: dict[str, str] | None = None, secrets: Iterable[str] = ()
    ) -> Any | None:
        """The ``data`` of a GET, or None when the console answers 404."""
        response = self._call("GET", path, what, params=params, expect=(404,), secrets=secrets)
        if response.status_code == 404:
            return None
        try:
            payload = response.json()
        except ValueError:
            raise GatewayError(f"{what}: {self.base_url} answered HTTP 200 without JSON") from None
        return payload.get("data") if isinstance(payload, dict) else None

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        expect: tuple[int, ...] = (),
        secrets: Iterable[str] = (),
    ) -> requests.Response:
        if not self._logged_in:
            self._login()
        response = self._send(method, path, body, params)
        if response.status_code == 401:
            # Console sessions expire and a restarted console forgets them: log in again, once.
            logger.info("gateway: session rejected by %s, logging in again", self.base_url)
            self._login()
            response = self._send(method, path, body, params)
        if response.ok or response.status_code in expect:
            return response
        raise self._error(response, what, secrets)

    def _login(self) -> None:
        with self._login_lock:
            self._http.cookies.clear()
            self._logged_in = False
            credentials = {"username": self.username, "password": self._password}
            response = self._send("POST", "/session/login", credentials, None)
            if not response.ok:
                what = f"log in to the gateway console as {self.username!r} (check HICLAW_GATEWAY_USER/PASSWORD)"
                raise self._error(response, what)
            self._logged_in = True
            logger.info("gateway: logged in to %s as %s", self.base_url, self.username)

    def _send(self, method: str, path: str, body: Any, params: dict[str, str] | None) -> requests.Response:
        try:
            return self._http.request(method, self.base_url + path, json=body, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise GatewayUnavailable(f"gateway console {self.base_url} unreachable ({method} {path}): {exc}") from None

    def _error(self, response: requests.Response, what: str, secrets: Iterable[str] = ()) -> GatewayError:
        try:
            payload = response.json()
            message = str(payload.get("message") or "")[:500] if isinstance(payload, dict) else ""
        except ValueError:
            message = response.text[:300]
        # Console errors can echo Kubernetes bodies holding credentials: never pass a secret on.
        for secret in (self._password, *secrets):
            if secret:
                message = message.replace(secret, "***")
        text = f"{what}: HTTP {response.status_code} from {self.base_url}" + (f": {message}" if message else "")
        # 409 is a concurrent write (stale route version): the next reconcile reads afresh and succeeds.
        temporary = response.status_code >= 500 or response.status_code == 409
        return GatewayUnavailable(text) if temporary else GatewayError(text)


class DisabledGateway:
    """Used when ``HICLAW_GATEWAY_URL`` is unset: every call succeeds and changes nothing."""

    enabled = False
    message = "HICLAW_GATEWAY_URL is not set"  # for the GatewayReady condition a reconciler sets

    def ensure_consumer(self, name: str, api_key: str) -> None:
        return None

    def delete_consumer(self, name: str) -> None:
        return None

    def authorize_mcp(self, consumer: str, mcp_servers: Iterable[str]) -> None:
        return None

    def revoke_mcp(self, consumer: str, mcp_servers: Iterable[str]) -> None:
        return None

    def ensure_ai_route(self, model: str, *, prefix: str, provider: str, consumers: Iterable[str] = ()) -> str:
        return route_name(prefix, model)

    def allow_consumer_on_route(self, route: str, consumer: str) -> None:
        return None

    def disallow_consumer_on_route(self, route: str, consumer: str) -> None:
        return None

    def ping(self) -> None:
        return None


def get_gateway() -> GatewayClient | DisabledGateway:
    """The gateway configured by the ``HICLAW_GATEWAY_*`` settings, or a DisabledGateway without a URL."""
    if not settings.HICLAW_GATEWAY_URL:
        return DisabledGateway()
    return _shared_client(settings.HICLAW_GATEWAY_URL, settings.HICLAW_GATEWAY_USER, settings.HICLAW_GATEWAY_PASSWORD)


@lru_cache(maxsize=4)
def _shared_client(base_url: str, username: str, password: str) -> GatewayClient:
    # One client, hence one console session, per process and configuration rather than a login per reconcile.
    return GatewayClient(base_url, username, password)


def _segment(name: str) -> str:
    return quote(name, safe="")


def _bearer_keys(consumer: dict[str, Any]) -> list[str]:
    for credential in consumer.get("credentials") or []:
        if credential.get("type") == "key-auth" and str(credential.get("source", "")).upper() == "BEARER":
            return list(credential.get("values") or [])
    return []


def _allowed(route: dict[str, Any]) -> list[str]:
    return list((route.get("authConfig") or {}).get("allowedConsumers") or [])


def _new_route(name: str, model: str, provider: str, consumers: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "domains": [],
        "pathPredicate": {"matchType": "PRE", "matchValue": _AI_ROUTE_PATH_PREFIX, "caseSensitive": False},
        "upstreams": [{"provider": provider, "weight": 100, "modelMapping": {}}],
        "modelPredicates": [{"matchType": "EQUAL", "matchValue": model, "caseSensitive": False}],
        # key-auth from the start, even before any consumer is allowed, so the route is never open.
        "authConfig": {"enabled": True, "allowedCredentialTypes": ["key-auth"], "allowedConsumers": consumers},
    }
