"""The Content-Security-Policy sent with every response.

Dashboard and admin pages load their scripts, styles and images from the
controller itself and need nothing inline (templates keep code in static/),
so the policy allows only the page's own origin: an injected ``<script>``,
``style=`` or ``onclick=`` does not run. ``connect-src 'self'`` covers the
dashboard's WebSocket (same host, ws: or wss:); ``img-src data:`` the empty
favicon and the admin's inline icons. Django 5.2 has no CSP support of its
own (it comes with 6.0), hence this middleware.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Adds ``POLICY`` to responses that do not set a policy of their own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django's own debug error pages (DEBUG only, never in production) are inline code.
        if not (settings.DEBUG and response.status_code >= 400):
            response.headers.setdefault("Content-Security-Policy", POLICY)
        return response
