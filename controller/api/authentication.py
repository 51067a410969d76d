"""Bearer-token authentication of agents (``Authorization: Bearer hct_…``)."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from controller.models import AgentToken


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the authorization policy sees it."""

    identity: str  # admin | manager | team-leader | worker
    name: str
    team: str = ""
    is_authenticated: bool = True

    def __str__(self) -> str:
        return f"{self.identity}:{self.name}" + (f"@{self.team}" if self.team else "")


class AgentTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, clear = header.partition(" ")
        if keyword != self.keyword or not clear.strip():
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        token = AgentToken.authenticate(clear.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        return Principal(token.identity, token.subject, token.team), token

    def authenticate_header(self, request) -> str:
        return self.keyword
