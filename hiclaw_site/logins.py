"""Failed-login throttling (django-axes): the answer a locked-out login gets.

Axes counts failed logins of the dashboard and the admin (both go through
Django's ``authenticate``) per account and per client address (``REMOTE_ADDR``;
behind a proxy, uvicorn sets it from ``X-Forwarded-For`` for the addresses in
``FORWARDED_ALLOW_IPS``). The limits are ``HICLAW_LOGIN_FAILURE_LIMIT`` and
``HICLAW_LOGIN_LOCKOUT_MINUTES`` (hiclaw_site/settings.py).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """429 with a page that says why and for how long (axes' ``AXES_LOCKOUT_CALLABLE``)."""
    context = {"lockout_minutes": settings.HICLAW_LOGIN_LOCKOUT_MINUTES}
    return render(request, "registration/locked_out.html", context, status=429)
