"""Operator tools around identity: the hiclaw_token command and the admin's read-only records."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from controller.models import AgentToken, AuditRecord

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("hiclaw_token", *args, stdout=out)
    return out.getvalue()


def test_create_prints_the_token_once_on_the_last_line_and_stores_only_its_hash():
    output = run("create", "--leader", "a-lead", "--team", "team-a", "--expires-days", "30")
    clear = output.strip().splitlines()[-1]
    assert clear.startswith("hct_")
    token = AgentToken.authenticate(clear)
    assert (token.identity, token.subject, token.team) == ("team-leader", "a-lead", "team-a")
    assert token.expires_at is not None
    assert clear not in (token.digest, token.hint) and clear not in run("list")


def test_list_and_revoke():
    clear = run("create", "--worker", "w1").strip().splitlines()[-1]
    token = AgentToken.authenticate(clear)
    assert "worker" in run("list") and "w1" in run("list")
    run("revoke", str(token.pk))
    assert AgentToken.authenticate(clear) is None
    assert "w1" not in run("list") and "revoked" in run("list", "--all")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "--leader", "x"), "--leader needs --team"),
        (("create", "--admin", "root", "--team", "t"), "--team does not apply to --admin"),
        (("create", "--worker", "w", "--expires-days", "0"), "--expires-days must be at least 1"),
        (("revoke", "999"), "no token with id 999"),
    ],
)
def test_bad_requests_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_audit_records_and_tokens_are_visible_read_only_in_the_admin(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("op", password="pw-operator-1"))
    AuditRecord.objects.create(
        actor="a-lead", identity="team-leader", action="state:Sleeping", target_kind="Worker", target_name="a-dev"
    )
    token, _ = AgentToken.mint("worker", "a-dev")
    body = client.get(reverse("admin:controller_auditrecord_changelist")).content.decode()
    assert "state:Sleeping" in body and "a-dev" in body
    assert client.get(reverse("admin:controller_auditrecord_add")).status_code == 403
    tokens = client.get(reverse("admin:controller_agenttoken_changelist")).content.decode()
    assert token.hint in tokens and token.digest not in tokens
    client.post(reverse("admin:controller_agenttoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
