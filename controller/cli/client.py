"""HTTP access to the controller's REST API for the ``hiclaw`` CLI.

Standard library only (urllib), every request with a timeout. Settings come
from the environment the reconciler gives an agent's instance (docs/architecture.md,
"Agents and their identity"): the controller URL
and a bearer token from the first of several variables, or from a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0
# Agents get HICLAW_AGENT_TOKEN; operators an admin token; the original CLI read HICLAW_AUTH_TOKEN(_FILE).
TOKEN_VARIABLES = ("HICLAW_AGENT_TOKEN", "HICLAW_ADMIN_TOKEN", "HICLAW_AUTH_TOKEN")
TOKEN_FILE_VARIABLE = "HICLAW_AUTH_TOKEN_FILE"  # noqa: S105 (a variable's name, not a secret)


class CLIError(Exception):
    """A failure reported to the user as ``error: <message>`` and exit status 1."""

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.message = " ".join(message.split())  # one line, whatever the server sent
        self.details = details or []


class TransportError(CLIError):
    """The controller did not answer (unreachable or too slow); worth retrying later."""


class APIError(CLIError):
    """The controller answered with an error status; ``message`` is its own explanation."""

    def __init__(self, status: int, body: Any, retry_after: str | None = None):
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.retry_after = retry_after  # the Retry-After header of a 429 (or 503), as sent
        message = self.body.get("message") or self.body.get("error") or f"the controller answered HTTP {status}"
        details = [_manifest_error(entry) for entry in self.body.get("errors") or [] if isinstance(entry, dict)]
        super().__init__(str(message), details)


def _manifest_error(entry: Mapping[str, Any]) -> str:
    resource = f" ({entry['resource']})" if entry.get("resource") else ""
    where = f"document {entry.get('document')}{resource}"
    return f"{where}: {entry.get('field')}: {entry.get('message')} [{entry.get('rule')}]"


@dataclass(frozen=True)
class Settings:
    url: str
    token: str


def settings_from_env(environ: Mapping[str, str] = os.environ) -> Settings:
    """The controller URL (required) and the token (may be empty; the server then says 401)."""
    url = environ.get("HICLAW_CONTROLLER_URL", "").strip().rstrip("/")
    if not url:
        raise CLIError(
            "HICLAW_CONTROLLER_URL is not set; set it to the controller's address, e.g. http://127.0.0.1:8000"
        )
    if urlsplit(url).scheme not in ("http", "https"):
        raise CLIError(f"HICLAW_CONTROLLER_URL must start with http:// or https://, got {url!r}")
    # Tolerate the API root in the URL, as some agent images set it that way.
    url = url.removesuffix(API_PREFIX)
    return Settings(url=url, token=_token(environ))


def _token(environ: Mapping[str, str]) -> str:
    for variable in TOKEN_VARIABLES:
        if environ.get(variable, "").strip():
            return environ[variable].strip()
    path = environ.get(TOKEN_FILE_VARIABLE, "").strip()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise CLIError(f"cannot read the token file {path} ({TOKEN_FILE_VARIABLE}): {exc.strerror}") from None
    return ""


class Client:
    """One controller; paths are relative to ``/api/v1``."""

    def __init__(self, settings: Settings, timeout: float = DEFAULT_TIMEOUT):
        self.settings = settings
        self.timeout = timeout

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: Any = None, **options: Any) -> Any:
        return self.call("POST", path, body=body, **options)

    def put(self, path: str, body: Any) -> Any:
        return self.call("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    def download(self, path: str) -> bytes:
        """The raw body of a GET (a file's content), not decoded as JSON."""
        return self._send("GET", API_PREFIX + path, None, {"Accept": "*/*"}, self.timeout, raw=True)

    def find(self, path: str) -> dict[str, Any] | None:
        """The resource at ``path``, or None when the controller says 404 (absent or not visible)."""
        try:
            return self.get(path)
        except APIError as exc:
            if exc.status == 404:
                return None
            raise

    def list_all(self, plural: str, query: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following ``next`` page by page."""
        page = self.get(f"/{plural}", query)
        items = list(page.get(plural, []))
        while page.get("next"):
            following = urlsplit(page["next"])
            # Only path and query are taken: the server may name itself differently behind a proxy.
            page = self._send("GET", f"{following.path}?{following.query}", None, {}, self.timeout)
            items.extend(page.get(plural, []))
        return items

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        yaml_text: str | None = None,
        query: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        target = API_PREFIX + path
        pairs = {key: value for key, value in (query or {}).items() if value not in (None, "")}
        if pairs:
            target += "?" + urlencode(pairs)
        headers = {}
        data = None
        if yaml_text is not None:
            data, headers["Content-Type"] = yaml_text.encode("utf-8"), "application/yaml"
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode("utf-8"), "application/json"
        return self._send(method, target, data, headers, timeout or self.timeout)

    def _send(
        self, method: str, target: str, data: bytes | None, headers: dict[str, str], timeout: float, raw: bool = False
    ) -> Any:
        headers = {"Accept": "application/json", "User-Agent": "hiclaw-cli", **headers}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        request = Request(self.settings.url + target, data=data, headers=headers, method=method)  # noqa: S310 (http(s) checked)
        try:
            with urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.read() if raw else _decode(response.read())
        except HTTPError as exc:
            with exc:
                raise APIError(exc.code, _decode(exc.read()), exc.headers.get("Retry-After")) from None
        except TimeoutError:
            raise TransportError(f"the controller at {self.settings.url} did not answer within {timeout:g} s") from None
        except URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TransportError(
                    f"the controller at {self.settings.url} did not answer within {timeout:g} s"
                ) from None
            reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
            raise TransportError(f"cannot reach the controller at {self.settings.url}: {reason}") from None


def _decode(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return {}  # not the API's JSON (a proxy's error page); the status code is all there is to say
