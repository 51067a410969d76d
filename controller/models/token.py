"""Agent tokens: random bearer tokens, stored only as a hash, bound to an identity.

An identity is what a caller is to the authorization policy (controller/policy/):
``admin``, ``manager``, ``team-leader`` of a team, ``worker`` (of a team or
standalone), or ``debug-worker`` (a DebugWorker's instance, read-only). The
reconciler mints an agent's token when it creates the agent's instance and
injects it as ``HICLAW_AGENT_TOKEN``; operators mint others with ``manage.py hiclaw_token``.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "hct_"  # noqa: S105 (a marker that makes leaked tokens easy to scan for)


class Identity(models.TextChoices):
    ADMIN = "admin"
    MANAGER = "manager"
    TEAM_LEADER = "team-leader"
    WORKER = "worker"
    # A DebugWorker's instance: may only read its targets' workspaces (controller/policy/debug.py).
    DEBUG_WORKER = "debug-worker"


# The identities one subject can hold over its life: a Worker row is a standalone worker,
# a team's worker or its leader in turn, so each of its tokens speaks for that same agent.
AGENT_IDENTITIES: dict[str, tuple[str, ...]] = {
    Identity.WORKER: (Identity.WORKER, Identity.TEAM_LEADER),
    Identity.TEAM_LEADER: (Identity.WORKER, Identity.TEAM_LEADER),
    Identity.MANAGER: (Identity.MANAGER,),
    Identity.ADMIN: (Identity.ADMIN,),
    Identity.DEBUG_WORKER: (Identity.DEBUG_WORKER,),
}


def token_digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing
    # to brute-force, and lookups stay one indexed query per request.
    return hashlib.sha256(token.encode()).hexdigest()


class AgentTokenQuerySet(models.QuerySet):
    def active(self) -> AgentTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )

    def revoke_agent(self, identity: str, subject: str) -> int:
        """Revoke every active token of the agent ``subject`` (of any identity it may have held)."""
        return self.revoke_agents(identity, [subject])

    def revoke_agents(self, identity: str, subjects: list[str]) -> int:
        """``revoke_agent`` for many agents of one identity, in one statement."""
        held = self.active().filter(identity__in=AGENT_IDENTITIES[identity], subject__in=subjects)
        return held.update(revoked_at=timezone.now())


class AgentToken(models.Model):
    identity = models.CharField(max_length=16, choices=Identity.choices)
    subject = models.CharField(max_length=150, help_text="who holds it: a worker, leader, manager or admin name")
    team = models.CharField(max_length=63, blank=True, help_text="the team of a team leader or team worker")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="first characters, to tell tokens apart")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = AgentTokenQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["identity", "subject"])]

    def __str__(self) -> str:
        where = f" of team/{self.team}" if self.team else ""
        return f"{self.identity} {self.subject}{where} ({self.hint}…)"

    @classmethod
    def mint(
        cls, identity: str, subject: str, *, team: str = "", expires_at=None, replace: bool = False
    ) -> tuple[AgentToken, str]:
        """Create a token; the clear text is returned once and never stored.

        ``replace`` revokes the subject's earlier tokens, of this identity and of
        any other the agent held (a demoted leader keeps no leader token), so
        only the newest instance of an agent can call the API.
        """
        if replace:
            cls.objects.revoke_agent(identity, subject)
        clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            identity=identity,
            subject=subject,
            team=team,
            digest=token_digest(clear),
            hint=clear[: len(TOKEN_PREFIX) + 4],
            expires_at=expires_at,
        )
        return token, clear

    @classmethod
    def authenticate(cls, clear: str) -> AgentToken | None:
        token = cls.objects.active().filter(digest=token_digest(clear)).first()
        if token is not None:
            cls.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token

    def revoke(self) -> None:
        type(self).objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
