"""``manage.py hiclaw_login NAME [--human H] [--password-stdin]``: a dashboard login for a person.

Creates the login (or sets a new password on an existing one), links it to a Human
when asked, and says what the dashboard will show it. A generated password is
printed once, on the last line; only its hash is stored.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from controller.services.logins import LoginRefused, give_login


class Command(BaseCommand):
    help = "Give a person a dashboard login, optionally linked to their Human (docs/dashboard.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the login name")
        parser.add_argument("--human", default="", help="link the login to this Human (its level decides the scope)")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin (default: generate one)"
        )

    def handle(self, *args, username: str, human: str, password_stdin: bool, **options) -> None:
        password = sys.stdin.readline().rstrip("\n") if password_stdin else ""
        if password_stdin and not password:
            raise CommandError("password: standard input was empty")
        try:
            given = give_login(username, human=human, password=password)
        except LoginRefused as error:
            raise CommandError(error.describe()) from None
        action = "created" if given.created else "updated"
        self.stdout.write(f"login {given.username} {action}; the dashboard shows it {given.sees}")
        if given.password:
            self.stdout.write("password (shown once; store it now):")
            self.stdout.write(given.password)
