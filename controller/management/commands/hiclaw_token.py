"""``manage.py hiclaw_token create|list|revoke``: API tokens for operators and agents.

``create`` prints the token once, on the last line of its output; only its
hash is stored.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from controller.models import AgentToken, Identity
from controller.policy import current_identity


class Command(BaseCommand):
    help = "Create, list and revoke API tokens (agents and operators)."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        create = commands.add_parser("create", help="mint a token; it is printed once, on the last line")
        who = create.add_mutually_exclusive_group(required=True)
        who.add_argument("--admin", metavar="NAME")
        who.add_argument("--manager", metavar="NAME")
        who.add_argument("--leader", metavar="NAME", help="a team leader (needs --team)")
        who.add_argument("--worker", metavar="NAME", help="a worker (with --team for a team member)")
        create.add_argument("--team", default="")
        create.add_argument("--expires-days", type=int, default=None, help="default: no expiry")
        listing = commands.add_parser("list", help="tokens, newest first (never the tokens themselves)")
        listing.add_argument("--all", action="store_true", help="include revoked and expired tokens")
        revoke = commands.add_parser("revoke", help="revoke a token by its id (from list)")
        revoke.add_argument("id", type=int)

    def handle(self, *args, command: str, **options) -> None:
        getattr(self, f"_{command}")(**options)

    def _create(self, *, admin, manager, leader, worker, team, expires_days, **_) -> None:
        identity, subject = next(
            (identity, name)
            for identity, name in (
                (Identity.ADMIN, admin),
                (Identity.MANAGER, manager),
                (Identity.TEAM_LEADER, leader),
                (Identity.WORKER, worker),
            )
            if name
        )
        if identity == Identity.TEAM_LEADER and not team:
            raise CommandError("--leader needs --team: a team leader acts only on its own team")
        if identity in (Identity.ADMIN, Identity.MANAGER) and team:
            raise CommandError(f"--team does not apply to --{identity}")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1")
        expires = timezone.now() + timedelta(days=expires_days) if expires_days else None
        token, clear = AgentToken.mint(identity, subject, team=team, expires_at=expires)
        self._warn_if_unbound(identity, subject, team)
        self.stdout.write(f"created token {token.pk} for {token} (shown once; store it now)")
        self.stdout.write(clear)

    def _warn_if_unbound(self, identity: str, subject: str, team: str) -> None:
        """An agent's token is refused (and revoked) unless the agent is what it names: say so now."""
        now = current_identity(identity, subject)
        if now == (identity, team):
            return
        what = "does not exist" if now is None else f"is {now[0]}" + (f" of team {now[1]}" if now[1] else "")
        self.stderr.write(
            f"warning: {subject} {what}; this {identity} token will be refused until it is "
            f"{identity}" + (f" of team {team}" if team else "")
        )

    def _list(self, *, all, **_) -> None:
        tokens = AgentToken.objects.order_by("-created_at")
        if not all:
            tokens = tokens.active()
        self.stdout.write(
            f"{'ID':>5}  {'IDENTITY':<12} {'SUBJECT':<24} {'TEAM':<16} {'HINT':<10} {'LAST USED':<20} STATE"
        )
        now = timezone.now()
        for token in tokens:
            expired = token.expires_at is not None and token.expires_at <= now
            state = "revoked" if token.revoked_at else ("expired" if expired else "active")
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            who = f"{token.identity:<12} {token.subject:<24} {token.team or '-':<16}"
            self.stdout.write(f"{token.pk:>5}  {who} {token.hint:<10} {used:<20} {state}")

    def _revoke(self, *, id, **_) -> None:
        token = AgentToken.objects.filter(pk=id).first()
        if token is None:
            raise CommandError(f"no token with id {id}")
        token.revoke()
        self.stdout.write(f"revoked token {id} ({token})")
