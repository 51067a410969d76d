"""``manage.py hiclaw_apply -f FILE|-``: apply manifests as an operator.

All documents apply or none: on any error nothing changes, each error is
printed with its document, field path and rule, and the exit status is 1.

The command applies through ``operations.apply_as``, the path of the API, the
dashboard and the admin, as an admin principal named after the OS user who
ran it (``manage.py:<user>``), so every change it makes has an audit record
like theirs.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from controller import policy
from controller.manifests import ManifestInvalid, parse
from controller.services import operations


def operator_principal() -> policy.Principal:
    """The operator at the server's shell: an admin, named for the audit trail."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (e.g. an arbitrary container uid)
        user = "unknown"
    return policy.Principal(policy.ADMIN, f"manage.py:{user}")


class Command(BaseCommand):
    help = "Apply hiclaw.io/v1beta1 manifests (one or many YAML documents) from a file or stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-f", "--filename", required=True, help="manifest file, or - for standard input")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, change nothing")

    def handle(self, *args, filename: str, dry_run: bool, **options) -> None:
        try:
            text = sys.stdin.read() if filename == "-" else Path(filename).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {filename}: {exc.strerror}") from None
        try:
            outcomes = operations.apply_as(operator_principal(), parse(text), dry_run=dry_run)
        except ManifestInvalid as invalid:
            for error in invalid.errors:
                self.stderr.write(f"error: {error}")
            raise CommandError(f"{len(invalid.errors)} error(s); nothing was applied") from None
        suffix = " (dry run)" if dry_run else ""
        for outcome in outcomes:
            self.stdout.write(f"{outcome}{suffix}")
