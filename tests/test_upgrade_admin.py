"""The admin's Upgrades: read-only records with their targets inline, scoped by the policy.

Upgrade rows are made directly (tests/upgrade_rows.py): carrying pushes and rollouts out
is tested with the services that do it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.conftest import example
from tests.upgrade_rows import advance, push, rollout

CHANGELIST = "admin:controller_upgrade_changelist"
CHANGE = "admin:controller_upgrade_change"


@pytest.fixture
def upgrades(apply):
    apply(example("team-alpha.yaml"))
    alpha = rollout("alpha-team", ["alpha-dev", "alpha-lead"], image="hiclaw/worker-agent:9.9.9")
    advance(alpha.pk, "alpha-dev", "failed", "image pull failed")
    other = push("team", "beta-team", "beta-team", ["beta-dev"], version="2026.12.7")
    return alpha, other


@pytest.fixture
def operator(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("operator", password="pw-operator-1"))
    return client


@pytest.fixture
def alice_staff(client, django_user_model):
    """alice administers alpha-team (its spec's admin) and may view upgrades in the admin."""
    user = django_user_model.objects.create_user("alice", password="pw-alice-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_upgrade", "view_upgradetarget"]))
    client.force_login(user)
    return client


def test_operator_lists_every_upgrade_and_reads_its_targets_inline(operator, upgrades):
    alpha, _ = upgrades
    listing = operator.get(reverse(CHANGELIST)).content.decode()
    assert "hiclaw/worker-agent:9.9.9" in listing and "2026.12.7" in listing
    page = operator.get(reverse(CHANGE, args=[alpha.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "alpha-dev" in body and "image pull failed" in body and "alpha-lead" in body
    assert 'name="targets-0-state"' not in body  # shown, not editable


def test_upgrades_cannot_be_added_changed_or_deleted(operator, upgrades):
    alpha, _ = upgrades
    assert operator.get(reverse("admin:controller_upgrade_add")).status_code == 403
    assert operator.get(reverse("admin:controller_upgrade_delete", args=[alpha.pk])).status_code == 403
    assert operator.post(reverse(CHANGE, args=[alpha.pk]), {"state": "Done"}).status_code == 403
    alpha.refresh_from_db()
    assert alpha.state == "Running"


def test_a_team_admin_sees_only_its_teams_upgrades(alice_staff, upgrades):
    alpha, other = upgrades
    listing = alice_staff.get(reverse(CHANGELIST)).content.decode()
    assert "hiclaw/worker-agent:9.9.9" in listing and "2026.12.7" not in listing
    assert alice_staff.get(reverse(CHANGE, args=[alpha.pk])).status_code == 200
    page = alice_staff.get(reverse(CHANGE, args=[other.pk]), follow=True)
    (message,) = [str(m) for m in page.context["messages"]]
    assert "exist" in message  # Django's words for a missing row
