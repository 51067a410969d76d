"""Who is calling: agents by bearer token, people by their dashboard session.

Both end as a ``controller.policy.Principal`` in ``request.user``, so views
and the policy never care how the caller logged in.
"""

from __future__ import annotations

from rest_framework import authentication, exceptions

from controller.policy import principal_for_token, principal_for_user


class AgentTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer hct_…``; the token's identity, checked against the holder's
    current role, becomes the principal."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, clear = header.partition(" ")
        if keyword != self.keyword or not clear.strip():
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        principal = principal_for_token(clear.strip())
        if principal is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        return principal, None

    def authenticate_header(self, request) -> str:
        return self.keyword


class DashboardSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in dashboard user, scoped like their role; writes need the CSRF token."""

    def authenticate(self, request):
        authenticated = super().authenticate(request)
        if authenticated is None:
            return None
        user, _ = authenticated
        return principal_for_user(user), None
