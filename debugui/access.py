"""Who a dashboard session belongs to *now*, for connections that outlive the request.

A WebSocket is authenticated once, at connect; a logout, a deactivated account,
a changed password or a withdrawn role happen later. The live consumer asks
here before every push and request, reloading the session and its user as a
new request would, then maps the login through the one policy.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest

from controller import policy


def principal_now(session_key: str | None) -> policy.Principal:
    """The policy's principal for the login behind ``session_key`` at this moment.

    ``get_user`` loads the user as for a request: none for a missing or flushed
    session, an inactive user, or a session whose password hash no longer matches.
    """
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return policy.principal_for_user(get_user(request))
