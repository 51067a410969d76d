"""Status bookkeeping and team-member edits: one function each for every reconciler and service."""

from __future__ import annotations

import pytest

from controller import reconcilers
from controller.clients.matrix import MatrixClient
from controller.connections import Connections, default_connections
from controller.manifests.members import with_member_changed
from controller.models import Human
from controller.services.apply import apply_text
from tests.helpers import free_port

TEAM_SPEC = {"leader": {"name": "lead", "model": "q"}, "workers": [{"name": "dev", "model": "q"}]}


def test_a_member_edit_changes_the_leader_or_the_named_worker_in_a_copy():
    as_leader = with_member_changed(TEAM_SPEC, "lead", {"state": "Sleeping"})
    as_worker = with_member_changed(TEAM_SPEC, "dev", {"model": "claude"})
    assert as_leader["leader"] == {"name": "lead", "model": "q", "state": "Sleeping"}
    assert as_worker["workers"] == [{"name": "dev", "model": "claude"}] and as_worker["leader"] == TEAM_SPEC["leader"]
    assert TEAM_SPEC["workers"] == [{"name": "dev", "model": "q"}]  # the stored spec is left alone


@pytest.mark.django_db
def test_a_failed_human_pass_records_when_it_ran_like_a_failed_worker_pass(settings):
    settings.HICLAW_MATRIX_DOMAIN = "hs.test"
    embedded = default_connections()
    unreachable = MatrixClient(f"http://127.0.0.1:{free_port()}", "hs.test", registration_secret="s", timeout=1)
    down = Connections(backend=embedded.backend, storage=embedded.storage, matrix=unreachable, gateway=embedded.gateway)
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: ann}\nspec: {displayName: Ann}\n")

    assert reconcilers.reconcile("Human", "ann", connections=down).requeue_after == 2
    human = Human.objects.get(name="ann")
    assert (human.phase, human.failures, human.reconciled_at is not None) == ("Pending", 1, True)
    assert human.message.startswith("MatrixReady: ") and human.condition("MatrixReady")["status"] == "False"
