"""Django admin: every kind listed and edited as YAML; actions change desired state only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from controller.models import KINDS, AuditRecord, DebugWorker, Team, Worker
from tests.conftest import EXAMPLES, example


@pytest.fixture
def operator(client, django_user_model):
    user = django_user_model.objects.create_superuser("operator", password="pw-operator-1")
    client.force_login(user)
    return client


@pytest.fixture
def everything(apply):
    for path in sorted(EXAMPLES.glob("*.yaml")):
        apply(path.read_text())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_changelist_and_change_page_render_for_every_kind(operator, everything, kind):
    model = KINDS[kind]
    name = model._meta.model_name
    listing = operator.get(reverse(f"admin:controller_{name}_changelist"))
    assert listing.status_code == 200
    obj = model.objects.first()
    assert obj.name in listing.content.decode()
    page = operator.get(reverse(f"admin:controller_{name}_change", args=[obj.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "apiVersion: hiclaw.io/v1beta1" in body and f"kind: {kind}" in body
    assert "observedGeneration" in body  # the read-only status view


def test_worker_list_filters_by_team_and_phase(operator, everything):
    team = Team.objects.get(name="alpha-team")
    url = reverse("admin:controller_worker_changelist")
    body = operator.get(url, {"team__id__exact": team.pk}).content.decode()
    assert "alpha-dev" in body and "research-bot" not in body
    assert operator.get(url, {"phase__exact": "Pending", "q": "research"}).status_code == 200


def test_access_token_never_appears_in_the_admin(operator, everything):
    debug = DebugWorker.objects.get(name="alpha-debug")
    body = operator.get(reverse("admin:controller_debugworker_change", args=[debug.pk])).content.decode()
    assert "syt_example" not in body


def test_add_through_yaml_applies_the_manifest(operator, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(
            reverse("admin:controller_worker_add"), {"manifest": example("worker-standalone.yaml")}
        )
    assert response.status_code == 302
    assert Worker.objects.get(name="research-bot").generation == 1
    assert len(callbacks) == 2  # the reconcile and the live update, after commit


def test_saving_in_the_admin_is_audited_as_the_logged_in_user(operator, db):
    operator.post(reverse("admin:controller_worker_add"), {"manifest": example("worker-standalone.yaml")})
    worker = Worker.objects.get(name="research-bot")
    changed = example("worker-standalone.yaml").replace("runtime: copaw", "runtime: openclaw")
    operator.post(reverse("admin:controller_worker_change", args=[worker.pk]), {"manifest": changed})
    records = AuditRecord.objects.order_by("at", "pk")
    assert [(r.actor, r.identity, r.action, r.target_kind, r.target_name) for r in records] == [
        ("operator", "admin", "apply:created", "Worker", "research-bot"),
        ("operator", "admin", "apply:configured", "Worker", "research-bot"),
    ]


def test_invalid_yaml_in_the_admin_shows_the_field_and_saves_nothing(operator, db):
    manifest = example("worker-standalone.yaml").replace("runtime: copaw", "runtime: vm")
    response = operator.post(reverse("admin:controller_worker_add"), {"manifest": manifest})
    assert response.status_code == 200
    assert "spec.runtime: must be" in response.content.decode()
    assert not Worker.objects.exists()


def test_renaming_through_the_admin_is_refused(operator, everything):
    worker = Worker.objects.get(name="research-bot")
    manifest = example("worker-standalone.yaml").replace("name: research-bot", "name: other-bot")
    response = operator.post(reverse("admin:controller_worker_change", args=[worker.pk]), {"manifest": manifest})
    assert "cannot rename worker/research-bot" in response.content.decode()
    assert not Worker.objects.filter(name="other-bot").exists()


def test_sleep_action_sets_desired_state_only(operator, everything):
    worker = Worker.objects.get(name="research-bot")
    operator.post(
        reverse("admin:controller_worker_changelist"),
        {"action": "set_state_sleeping", "_selected_action": [worker.pk]},
    )
    worker.refresh_from_db()
    assert (worker.state, worker.phase, worker.generation) == ("Sleeping", "Pending", 2)


def test_deletion_action_marks_and_refuses_members(operator, everything):
    url = reverse("admin:controller_worker_changelist")
    solo, member = Worker.objects.get(name="research-bot"), Worker.objects.get(name="alpha-dev")
    response = operator.post(
        url, {"action": "request_deletion_action", "_selected_action": [solo.pk, member.pk]}, follow=True
    )
    assert Worker.objects.get(name="research-bot").deletion_requested_at is not None
    assert Worker.objects.get(name="alpha-dev").deletion_requested_at is None
    assert "member of team/alpha-team" in response.content.decode()


def test_rows_cannot_be_deleted_directly(operator, everything):
    worker = Worker.objects.get(name="research-bot")
    assert operator.get(reverse("admin:controller_worker_delete", args=[worker.pk])).status_code == 403


@pytest.fixture
def alice_staff(client, django_user_model, everything):
    """alice administers alpha-team (its spec's admin) and may use the admin's Worker pages."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("alice", password="pw-alice-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_worker", "change_worker", "view_team"]))
    client.force_login(user)
    return client


def test_a_staff_login_lists_only_what_the_policy_lets_it_see(alice_staff):
    """Another team's or a standalone worker is not listed and has no change page, as if missing."""
    listing = alice_staff.get(reverse("admin:controller_worker_changelist")).content.decode()
    assert "alpha-dev" in listing and "research-bot" not in listing
    solo = Worker.objects.get(name="research-bot")
    page = alice_staff.get(reverse("admin:controller_worker_change", args=[solo.pk]), follow=True)
    (message,) = [str(m) for m in page.context["messages"]]
    assert message.startswith("worker with ID") and "exist" in message  # Django's words for a missing row


def test_a_staff_logins_team_filter_names_no_other_team(alice_staff, apply):
    apply(example("team-alpha.yaml").replace("alpha", "beta").replace("name: alice", "name: bob"))
    listing = alice_staff.get(reverse("admin:controller_worker_changelist")).content.decode()
    assert "alpha-team" in listing and "beta-team" not in listing


def test_admin_actions_ask_the_policy_as_the_logged_in_user(alice_staff):
    """A staff login's bulk actions reach only what the policy lets it reach: out of its
    scope a row is not even selectable, and in scope the policy's refusal is shown."""
    url = reverse("admin:controller_worker_changelist")
    solo = Worker.objects.get(name="research-bot")
    alice_staff.post(url, {"action": "request_deletion_action", "_selected_action": [solo.pk]})
    alice_staff.post(url, {"action": "set_state_sleeping", "_selected_action": [solo.pk]})
    solo.refresh_from_db()
    assert (solo.deletion_requested_at, solo.state) == (None, "Running")
    team = Team.objects.get(name="alpha-team")
    response = alice_staff.post(
        reverse("admin:controller_team_changelist"),
        {"action": "request_deletion_action", "_selected_action": [team.pk]},
        follow=True,
    )
    assert Team.objects.get(name="alpha-team").deletion_requested_at is None
    assert [str(m) for m in response.context["messages"]] == [
        "team-admin alice may not change team/alpha-team's spec; an admin or the manager does"
    ]
    assert not AuditRecord.objects.exists()


def test_admin_actions_are_audited_as_the_logged_in_user(operator, everything):
    url = reverse("admin:controller_worker_changelist")
    solo = Worker.objects.get(name="research-bot")
    operator.post(url, {"action": "set_state_sleeping", "_selected_action": [solo.pk]})
    operator.post(url, {"action": "request_deletion_action", "_selected_action": [solo.pk]})
    records = AuditRecord.objects.order_by("at", "pk")
    assert [(r.actor, r.identity, r.action, r.target_kind, r.target_name) for r in records] == [
        ("operator", "admin", "state:Sleeping", "Worker", "research-bot"),
        ("operator", "admin", "delete", "Worker", "research-bot"),
    ]


def test_linking_a_login_to_a_human_is_audited(operator, everything, django_user_model):
    """The dashboard login beside a Human's manifest grants that Human's role: who linked it is recorded."""
    from controller.models import Human

    human = Human.objects.get(name="alice")
    login = django_user_model.objects.create_user("alice", password="pw-alice-1")
    manifest = (
        operator.get(reverse("admin:controller_human_change", args=[human.pk]))
        .context["adminform"]
        .form["manifest"]
        .value()
    )
    response = operator.post(
        reverse("admin:controller_human_change", args=[human.pk]), {"manifest": manifest, "user": login.pk}
    )
    assert response.status_code == 302
    assert Human.objects.get(name="alice").user == login
    records = AuditRecord.objects.filter(target_kind="Human", target_name="alice")
    assert [(r.actor, r.action, r.detail) for r in records] == [("operator", "update", {"fields": ["user"]})]
