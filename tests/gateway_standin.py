"""In-test stand-in of the Higress console API endpoints the gateway client uses.

No Higress can be had here, so this small HTTP server speaks the console's paths, JSON shapes and
``_hi_sess`` session cookie (as in higress-group/higress-console), keeps its state in memory, counts
requests per method and path so tests can assert that a second ``ensure`` writes nothing, and can be
told to fail (503) or to forget its sessions (401).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

COOKIE = "_hi_sess"
Answer = tuple[int, Any]


def _ok(data: Any) -> dict[str, Any]:
    return {"success": True, "message": None, "data": data}


def _failure(status: int, message: str) -> Answer:
    return status, {"success": False, "message": message, "data": None}


def _page(items: list[Any]) -> dict[str, Any]:
    return {**_ok(items), "total": len(items), "pageNum": 0, "pageSize": len(items)}


class HigressStandin:
    """A console with one admin user, LLM providers, MCP servers, consumers and AI routes in memory."""

    def __init__(self, *, password: str, username: str = "admin") -> None:
        self.username = username
        self.password = password
        self.providers: set[str] = set()
        self.mcp_servers: dict[str, list[str]] = {}
        self.consumers: dict[str, dict[str, Any]] = {}
        self.routes: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.fail_status: int | None = None
        self._sessions: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.standin = self  # type: ignore[attr-defined]
        # A short poll interval keeps shutdown (once per test) from costing half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._endpoints: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
            ("GET", re.compile(r"/user/info"), lambda m, q, b: (200, _ok({"name": self.username}))),
            ("GET", re.compile(r"/v1/consumers"), lambda m, q, b: (200, _page(list(self.consumers.values())))),
            ("POST", re.compile(r"/v1/consumers"), lambda m, q, b: self._save_consumer(b)),
            ("GET", re.compile(r"/v1/consumers/([^/]+)"), self._get_consumer),
            ("PUT", re.compile(r"/v1/consumers/([^/]+)"), lambda m, q, b: self._save_consumer(b, m[1])),
            ("DELETE", re.compile(r"/v1/consumers/([^/]+)"), self._delete_consumer),
            ("GET", re.compile(r"/v1/ai/routes"), lambda m, q, b: (200, _page(list(self.routes.values())))),
            ("POST", re.compile(r"/v1/ai/routes"), self._add_route),
            ("GET", re.compile(r"/v1/ai/routes/([^/]+)"), self._get_route),
            ("PUT", re.compile(r"/v1/ai/routes/([^/]+)"), self._update_route),
            ("GET", re.compile(r"/v1/mcpServer/consumers"), self._list_mcp_consumers),
            ("PUT", re.compile(r"/v1/mcpServer/consumers"), lambda m, q, b: self._change_mcp_consumers(b, add=True)),
            (
                "DELETE",
                re.compile(r"/v1/mcpServer/consumers"),
                lambda m, q, b: self._change_mcp_consumers(b, add=False),
            ),
        ]

    # --- lifecycle and test controls ---------------------------------------------------------
    def __enter__(self) -> HigressStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_provider(self, name: str) -> None:
        self.providers.add(name)

    def add_mcp_server(self, name: str, consumers: Iterable[str] = ()) -> None:
        self.mcp_servers[name] = list(consumers)

    def expire_sessions(self) -> None:
        """Forget every session, as a console restart or cookie expiry does."""
        with self._lock:
            self._sessions.clear()

    def count(self, method: str, path: str) -> int:
        return self.requests[f"{method} {path}"]

    def writes(self) -> int:
        """Requests that could change state, not counting logins."""
        return sum(n for key, n in self.requests.items() if not key.startswith(("GET ", "POST /session/")))

    # --- dispatch ------------------------------------------------------------------------------
    def handle(self, method: str, target: str, body: Any, cookie_header: str) -> tuple[int, Any, list[str]]:
        url = urlsplit(target)
        path, query = unquote(url.path), parse_qs(url.query)
        with self._lock:
            self.requests[f"{method} {path}"] += 1
            if self.fail_status:
                return *_failure(self.fail_status, "stand-in told to fail"), []
            if (method, path) == ("POST", "/session/login"):
                return self._login(body or {})
            cookie = SimpleCookie(cookie_header)
            if COOKIE not in cookie or cookie[COOKIE].value not in self._sessions:
                return *_failure(401, "AuthException: Login required."), []
            for verb, pattern, endpoint in self._endpoints:
                match = pattern.fullmatch(path)
                if verb == method and match:
                    return *endpoint(match, query, body), []
            return 404, None, []

    def _login(self, body: dict[str, Any]) -> tuple[int, Any, list[str]]:
        if not body.get("username") or not body.get("password"):
            return *_failure(400, "ValidationException: Missing user name or password."), []
        if (body["username"], body["password"]) != (self.username, self.password):
            return *_failure(401, "AuthException: Incorrect username or password"), []
        token = secrets.token_urlsafe(16)
        self._sessions.add(token)
        return 200, _ok({"name": self.username}), [f"{COOKIE}={token}; Path=/; HttpOnly"]

    # --- consumers -------------------------------------------------------------------------------
    def _get_consumer(self, match: re.Match[str], query: Any, body: Any) -> Answer:
        consumer = self.consumers.get(match[1])
        return (200, _ok(copy.deepcopy(consumer))) if consumer else (404, None)

    def _save_consumer(self, body: dict[str, Any], name: str | None = None) -> Answer:
        if name and body.get("name") not in (None, name):
            return _failure(400, "Consumer name in the URL doesn't match the one in the body.")
        credentials = body.get("credentials") or []
        key_auth = [c for c in credentials if c.get("type") == "key-auth"]
        if not body.get("name") or not key_auth or not key_auth[0].get("values"):
            return _failure(400, "ValidationException: credentials cannot be empty.")
        if key_auth[0].get("source") not in ("BEARER", "HEADER", "QUERY"):
            return _failure(400, f"ValidationException: unknown source value: {key_auth[0].get('source')}")
        for other in self.consumers.values():
            if other["name"] != body["name"] and set(other["credentials"][0]["values"]) & set(key_auth[0]["values"]):
                return _failure(500, f"Key auth credential already in use by consumer: {other['name']}")
        credential = {"type": "key-auth", "source": key_auth[0]["source"], "key": None, "values": key_auth[0]["values"]}
        self.consumers[body["name"]] = {"name": body["name"], "credentials": [credential]}
        return (201 if name is None else 200), copy.deepcopy(self.consumers[body["name"]])

    def _delete_consumer(self, match: re.Match[str], query: Any, body: Any) -> Answer:
        name = match[1]
        allow_lists = [r["authConfig"].get("allowedConsumers") or [] for r in self.routes.values()]
        if any(name in allowed for allowed in [*allow_lists, *self.mcp_servers.values()]):
            return _failure(500, f"BusinessException: Consumer {name} is still in use")
        self.consumers.pop(name, None)
        return 204, None

    # --- AI routes -------------------------------------------------------------------------------
    def _validate_route(self, route: dict[str, Any]) -> Answer | None:
        upstreams = route.get("upstreams") or []
        if not route.get("name") or not upstreams:
            return _failure(400, "ValidationException: upstreams cannot be empty.")
        unknown = [u.get("provider") for u in upstreams if u.get("provider") not in self.providers]
        if unknown:
            return _failure(400, f"ValidationException: Unknown provider: {unknown[0]}")
        return None

    def _add_route(self, match: re.Match[str], query: Any, body: dict[str, Any]) -> Answer:
        invalid = self._validate_route(body)
        if invalid:
            return invalid
        if body["name"] in self.routes:
            return _failure(409, "ResourceConflictException: Route already existed with the same name.")
        self.routes[body["name"]] = {**copy.deepcopy(body), "version": "1"}
        return 201, copy.deepcopy(self.routes[body["name"]])

    def _get_route(self, match: re.Match[str], query: Any, body: Any) -> Answer:
        route = self.routes.get(match[1])
        return (200, _ok(copy.deepcopy(route))) if route else (404, None)

    def _update_route(self, match: re.Match[str], query: Any, body: dict[str, Any]) -> Answer:
        current = self.routes.get(match[1])
        if current is None:
            return _failure(500, f"BusinessException: Error occurs when replacing the ConfigMap of {match[1]}")
        invalid = self._validate_route(body)
        if invalid:
            return invalid
        if body.get("version") != current["version"]:
            return _failure(409, "ResourceConflictException")
        self.routes[match[1]] = {**copy.deepcopy(body), "name": match[1], "version": str(int(current["version"]) + 1)}
        return 200, copy.deepcopy(self.routes[match[1]])

    # --- MCP servers -----------------------------------------------------------------------------
    def _list_mcp_consumers(self, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Answer:
        server = (query.get("mcpServerName") or [""])[0]
        if server not in self.mcp_servers:
            return _failure(500, "BusinessException: bound route not found!")
        term = (query.get("consumerName") or [""])[0]
        # Like the console, the consumer name is a substring filter, not an exact match.
        pairs = [
            {"mcpServerName": server, "consumerName": c, "type": "key-auth"}
            for c in self.mcp_servers[server]
            if term in c
        ]
        return 200, _page(pairs)

    def _change_mcp_consumers(self, body: dict[str, Any], *, add: bool) -> Answer:
        server = body.get("mcpServerName")
        if server not in self.mcp_servers:
            return _failure(500, "BusinessException: bound route not found!")
        allowed = self.mcp_servers[server]
        for consumer in body.get("consumers") or []:
            if add and consumer not in allowed:
                allowed.append(consumer)
            elif not add and consumer in allowed:
                allowed.remove(consumer)
        return 204, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the console's servlet container does

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        standin: HigressStandin = self.server.standin  # type: ignore[attr-defined]
        status, payload, cookies = standin.handle(method, self.path, body, self.headers.get("Cookie", ""))
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not every request."""
