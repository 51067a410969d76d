"""``manage.py hiclaw_apply``: one line per resource, or every error and nothing applied; every
change audited like the API's."""

from __future__ import annotations

import getpass
import io

import pytest
from django.core.management import CommandError, call_command

from controller.models import AuditRecord, Team, Worker
from tests.conftest import EXAMPLES


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command("hiclaw_apply", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_apply_file_prints_one_line_per_resource():
    out, _ = run("-f", str(EXAMPLES / "team-alpha.yaml"))
    assert out == "team/alpha-team created\n"
    out, _ = run("-f", str(EXAMPLES / "team-alpha.yaml"))
    assert out == "team/alpha-team unchanged\n"


@pytest.mark.django_db
def test_apply_from_stdin_with_many_documents(monkeypatch):
    stream = "\n---\n".join((EXAMPLES / name).read_text() for name in ("worker-standalone.yaml", "manager.yaml"))
    out, _ = run("-f", "-", stdin=stream, monkeypatch=monkeypatch)
    assert out.splitlines() == ["worker/research-bot created", "manager/default created"]


@pytest.mark.django_db
def test_dry_run_changes_nothing():
    out, _ = run("-f", str(EXAMPLES / "team-alpha.yaml"), "--dry-run")
    assert out == "team/alpha-team created (dry run)\n"
    assert not Team.objects.exists()


@pytest.mark.django_db
def test_errors_are_printed_with_document_field_and_rule_and_nothing_is_applied(monkeypatch):
    stream = (
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: ok}\nspec: {model: q}\n---\n"
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: bad}\nspec: {model: q, runtime: vm}\n"
    )
    err = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO(stream))
    with pytest.raises(CommandError, match="1 error"):
        call_command("hiclaw_apply", "-f", "-", stdout=io.StringIO(), stderr=err)
    assert "error: document 2 (worker/bad): spec.runtime: must be 'openclaw', 'copaw' or 'hermes'" in err.getvalue()
    assert "[enum]" in err.getvalue()
    assert not Worker.objects.exists()


def test_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match=r"cannot read /nonexistent\.yaml"):
        call_command("hiclaw_apply", "-f", "/nonexistent.yaml")


@pytest.mark.django_db
def test_every_change_is_audited_as_the_operator_like_the_api(monkeypatch):
    run("-f", str(EXAMPLES / "team-alpha.yaml"))
    record = AuditRecord.objects.get()
    assert (record.actor, record.identity, record.action) == (
        f"manage.py:{getpass.getuser()}",
        "admin",
        "apply:created",
    )
    assert (record.target_kind, record.target_name) == ("Team", "alpha-team")
    run("-f", str(EXAMPLES / "team-alpha.yaml"))  # unchanged: nothing happened, nothing to record
    run("-f", str(EXAMPLES / "worker-standalone.yaml"), "--dry-run")
    assert AuditRecord.objects.count() == 1


@pytest.mark.django_db
def test_an_operator_without_a_login_name_is_still_recorded(monkeypatch):
    def no_login_name() -> str:
        raise OSError("no username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_login_name)
    run("-f", str(EXAMPLES / "worker-standalone.yaml"))
    assert AuditRecord.objects.get().actor == "manage.py:unknown"


@pytest.mark.django_db
def test_a_refused_apply_records_nothing(monkeypatch):
    bad = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: bad}\nspec: {model: q, runtime: vm}\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(bad))
    with pytest.raises(CommandError):
        call_command("hiclaw_apply", "-f", "-", stdout=io.StringIO(), stderr=io.StringIO())
    assert not AuditRecord.objects.exists()
