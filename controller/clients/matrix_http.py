"""HTTP transport of the Matrix client: sessions, errors, timeouts and rate limits.

Every request carries an explicit timeout. Nothing is retried except a 429,
after the wait the homeserver asks for, a bounded number of times. Access
tokens travel only in the Authorization header, never in a URL or a log line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

logger = logging.getLogger(__name__)

# A 429 is answered before the request is processed, so waiting and sending it
# again is safe even for non-idempotent calls; longer waits are left to the
# reconciler's backoff rather than blocking a Celery worker.
_RATE_LIMIT_RETRIES = 3
_RATE_LIMIT_MAX_WAIT = 10.0


class MatrixError(Exception):
    """A call the homeserver refused; ``errcode`` is the Matrix error code (``M_FORBIDDEN`` …)."""

    def __init__(self, status: int | None, errcode: str, message: str, *, endpoint: str = "", data: dict | None = None):
        self.status = status
        self.errcode = errcode
        self.message = message
        self.endpoint = endpoint
        # The JSON error body: user-interactive auth reads its flows from it.
        self.data = data or {}
        super().__init__(f"{endpoint}: {errcode or 'error'} ({status or 'no response'}) {message}".lstrip(": "))


class MatrixUnavailable(MatrixError):
    """The homeserver was unreachable, timed out, failed (5xx) or kept rate-limiting: try again later."""


@dataclass(frozen=True)
class MatrixSession:
    """A logged-in device. The token is kept out of ``repr`` so it never reaches a log."""

    user_id: str
    access_token: str = field(repr=False)
    device_id: str = ""


class MatrixHTTP:
    """A connection pool to one homeserver."""

    def __init__(self, base_url: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._requests = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        *,
        session: MatrixSession | None = None,
        body: dict | None = None,
        params: dict | None = None,
    ) -> dict:
        """Send one request and return its JSON body; a 429 is resent after the wait the server asks for."""
        endpoint = f"{method} {path}"
        headers = {"Authorization": f"Bearer {session.access_token}"} if session else {}
        for attempt in range(_RATE_LIMIT_RETRIES + 1):
            try:
                response = self._requests.request(
                    method, self.base_url + path, json=body, params=params, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise MatrixUnavailable(None, "", f"{type(exc).__name__}: {exc}", endpoint=endpoint) from exc
            wait = _retry_after(response)
            if wait is None or attempt == _RATE_LIMIT_RETRIES or wait > _RATE_LIMIT_MAX_WAIT:
                break
            logger.warning("matrix: %s rate-limited, retrying in %.1fs", endpoint, wait)
            time.sleep(wait)
        return _result(response, endpoint)


def _result(response: requests.Response, endpoint: str) -> dict:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    if response.ok:
        return data
    status = response.status_code
    errcode = data.get("errcode", "M_UNKNOWN")
    message = data.get("error") or response.text[:200]
    error = MatrixUnavailable if status >= 500 or status == 429 else MatrixError
    raise error(status, errcode, message, endpoint=endpoint, data=data)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait before resending a rate-limited request, or None if it was not limited."""
    if response.status_code != 429:
        return None
    try:
        return float(response.json().get("retry_after_ms", 1000)) / 1000
    except (ValueError, AttributeError):
        return 1.0


def session_from(data: dict) -> MatrixSession:
    """The session in a register or login response."""
    return MatrixSession(
        user_id=data["user_id"], access_token=data["access_token"], device_id=data.get("device_id", "")
    )


def segment(value: str) -> str:
    """Percent-encode one path segment (user IDs, room IDs and aliases contain ``@ ! # :``)."""
    return quote(value, safe="")
