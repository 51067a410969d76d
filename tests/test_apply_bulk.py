"""Applying many resources costs a bounded number of statements, broker messages and live
notices per apply, not one of each per resource; all documents or none, still.

Statements are counted with Django's ``CaptureQueriesContext`` around the whole apply path
(``operations.apply_as``: authorization, apply, audit); broker messages with Celery's
``before_task_publish`` signal, which fires once per message really sent (the tests' broker
is in memory); live notices at ``live._send``, the one place they leave the process. The
same tests run on PostgreSQL when the suite does (``DATABASE_URL``): there a statement
holds up to ``apply_rows.BATCH`` rows, on SQLite as many as its 999 parameters allow.
"""

from __future__ import annotations

import json
import math

import pytest
import yaml
from celery.signals import before_task_publish
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controller import policy, tasks
from controller.connections import default_connections
from controller.manifests import ManifestInvalid, parse
from controller.manifests.bounds import ManifestLoader
from controller.models import AgentToken, AuditRecord, Team, Worker
from controller.reconcile_queue import (
    RECONCILE_CHUNK,
    RECONCILE_MANY_TASK,
    RECONCILE_SPREAD,
    RECONCILE_TASK,
    enqueue_many,
)
from controller.services import live, operations
from controller.services.apply_rows import BATCH
from controller.services.lifecycle import request_deletion
from tests.helpers import lock_held_elsewhere, manifest, to_yaml

pytestmark = pytest.mark.django_db
ADMIN = policy.Principal(policy.ADMIN, "bulk-test")


@pytest.fixture
def published() -> list[dict]:
    """Every task message sent to the broker: its task name, arguments and headers."""
    messages: list[dict] = []

    def record(sender=None, body=None, headers=None, **kwargs) -> None:
        messages.append({"task": sender, "args": body[0] if body else (), "headers": headers or {}})

    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)


@pytest.fixture
def notices(monkeypatch) -> list[tuple[list[str], dict]]:
    sent: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(live, "_send", lambda groups, message: sent.append((groups, message)))
    return sent


@pytest.fixture
def apply_as(django_capture_on_commit_callbacks):
    """Apply YAML as an admin; returns (outcomes, statements); after-commit work runs."""

    def _apply(text: str, **kwargs) -> tuple[list, list[str]]:
        documents = parse(text)
        with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
            outcomes = operations.apply_as(ADMIN, documents, **kwargs)
        return outcomes, [query["sql"] for query in queries.captured_queries]

    return _apply


def workers(count: int, model: str = "qwen", start: int = 0) -> str:
    return to_yaml(
        *(manifest("Worker", f"w{i:04d}", {"model": model, "state": "Sleeping"}) for i in range(start, count))
    )


def team(members: int) -> str:
    spec = {
        "leader": {"name": "big-lead", "model": "qwen", "state": "Sleeping"},
        "workers": [{"name": f"big-{i:04d}", "model": "qwen", "state": "Sleeping"} for i in range(members)],
    }
    return to_yaml(manifest("Team", "big", spec))


def forced_batches(model, rows: int) -> int:
    """Statements a bulk insert of ``rows`` needs: the database's parameter limit (SQLite:
    999 per statement) and ``BATCH`` split it; on PostgreSQL one per ``BATCH`` rows."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    return math.ceil(rows / min(connection.ops.bulk_batch_size(fields, [None] * rows), BATCH))


def growth_allowed(small: int, large: int, *models) -> int:
    return sum(forced_batches(model, large) - forced_batches(model, small) for model in models)


def reconcile_messages(published: list[dict]) -> list[dict]:
    return [m for m in published if m["task"] in (RECONCILE_TASK, RECONCILE_MANY_TASK)]


def queued(published: list[dict], kind: str = "Worker") -> list[str]:
    """The names of ``kind`` whose reconcile the messages ask for, each as often as asked."""
    names: list[str] = []
    for message in reconcile_messages(published):
        if message["args"][0] == kind:
            many = message["task"] == RECONCILE_MANY_TASK
            names += list(message["args"][1]) if many else [message["args"][1]]
    return sorted(names)


def most_messages(names: int) -> int:
    """What ``reconcile_queue.enqueue_many`` may send for ``names`` names."""
    return max(RECONCILE_SPREAD, math.ceil(names / RECONCILE_CHUNK))


# --- cost: bounded per apply -------------------------------------------------------------
def test_applying_200_workers_costs_what_10_do_but_for_insert_batches(apply_as, published, notices):
    _, small = apply_as(workers(10))
    small_messages, small_notices = len(published), len(notices)
    published.clear(), notices.clear()
    _, large = apply_as(workers(210, start=10))
    assert Worker.objects.count() == 210
    assert len(large) - len(small) <= growth_allowed(10, 200, Worker, AuditRecord)
    # A few messages, each naming a chunk of the Workers (spread over the Celery threads),
    # however many there are; one live notice per apply.
    assert small_messages <= RECONCILE_SPREAD and len(published) <= RECONCILE_SPREAD
    assert small_notices == len(notices) == 1
    assert all(m["task"] == RECONCILE_MANY_TASK for m in published)
    assert queued(published) == [f"w{i:04d}" for i in range(10, 210)]


def test_a_team_of_200_members_costs_what_one_of_10_does_but_for_insert_batches(apply_as, published, notices):
    _, small = apply_as(team(10))
    small_messages = len(reconcile_messages(published))
    Worker.objects.all().delete(), Team.objects.all().delete()
    published.clear(), notices.clear()
    _, large = apply_as(team(200))
    assert Worker.objects.filter(team__name="big").count() == 201
    assert len(large) - len(small) <= growth_allowed(11, 201, Worker)
    # The Team's reconcile, and its members' in chunks.
    assert small_messages <= 1 + RECONCILE_SPREAD and len(reconcile_messages(published)) <= 1 + most_messages(201)
    assert queued(published, "Team") == ["big"] and len(queued(published)) == 201
    assert len(notices) == 1


def test_changing_and_removing_200_members_costs_a_bounded_number_of_statements(apply_as, published):
    apply_as(team(200))
    published.clear()
    changed = team(200).replace("model: qwen", "model: claude")
    _, statements = apply_as(changed)
    assert set(Worker.objects.filter(team__name="big").values_list("model", flat=True)) == {"claude"}
    # Reads, one UPDATE per kind (sent for all rows at once), the audit insert, transaction control.
    assert len(statements) <= 12
    # The Team's own spec changed too: its reconcile, and its members' in chunks.
    assert len(reconcile_messages(published)) <= 1 + most_messages(201) and len(queued(published)) == 201
    _, statements = apply_as(team(0))
    assert Worker.objects.filter(team__name="big", deletion_requested_at__isnull=False).count() == 200
    assert len(statements) <= 12


def test_deleting_a_team_of_200_queues_its_members_in_chunks_with_one_notice(
    apply_as, published, notices, django_capture_on_commit_callbacks
):
    apply_as(team(200))
    tokens = {name: AgentToken.mint("worker", name, team="big")[1] for name in ("big-0000", "big-0199")}
    published.clear(), notices.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert request_deletion(Team.objects.get(name="big"))
    assert Worker.objects.filter(team__name="big", deletion_requested_at__isnull=True).count() == 0
    assert len(reconcile_messages(published)) <= 1 + most_messages(201)
    assert queued(published, "Team") == ["big"] and len(queued(published)) == 201
    assert len(notices) == 1  # the members' notices gathered into one
    assert not any(AgentToken.authenticate(token) for token in tokens.values())


# --- all or none, dry run ----------------------------------------------------------------
def test_one_refused_document_of_200_writes_and_queues_nothing(apply_as, published, notices):
    documents = [manifest("Worker", f"w{i:04d}", {"model": "qwen"}) for i in range(200)]
    documents[149]["metadata"]["annotations"] = {"hiclaw.io/team": "alpha"}
    with pytest.raises(ManifestInvalid) as refused:
        apply_as(to_yaml(*documents))
    [error] = refused.value.errors
    assert (error.document, error.field, error.rule) == (150, "metadata.annotations.hiclaw.io/team", "team-member")
    assert not Worker.objects.exists() and not AuditRecord.objects.exists()
    assert published == [] and notices == []


def test_a_member_name_taken_later_in_the_stream_refuses_the_whole_apply(apply_as, published):
    """A document sees what the documents before it staged, as when each was written at once."""
    text = team(3) + "---\n" + to_yaml(manifest("Worker", "big-0001", {"model": "qwen"}))
    with pytest.raises(ManifestInvalid) as refused:
        apply_as(text)
    [error] = refused.value.errors
    assert (error.document, error.field, error.rule) == (2, "spec", "team-member")
    assert "member of team/big" in error.message
    assert not Team.objects.exists() and not Worker.objects.exists() and published == []


def test_a_dry_run_of_200_writes_nothing(apply_as, published, notices):
    outcomes, statements = apply_as(workers(200), dry_run=True)
    assert {outcome.action for outcome in outcomes} == {"created"} and len(outcomes) == 200
    assert not Worker.objects.exists() and not AuditRecord.objects.exists()
    assert published == [] and notices == []
    assert not [sql for sql in statements if sql.startswith(("INSERT", "UPDATE"))]


# --- only what changed -------------------------------------------------------------------
def test_an_unchanged_reapply_writes_and_queues_nothing(apply_as, published, notices):
    apply_as(workers(200))
    published.clear(), notices.clear()
    outcomes, statements = apply_as(workers(200))
    assert {outcome.action for outcome in outcomes} == {"unchanged"}
    assert published == [] and notices == []
    assert not [sql for sql in statements if sql.startswith(("INSERT", "UPDATE"))]


def test_a_changed_subset_is_written_and_queued_alone(apply_as, published, notices):
    apply_as(workers(200))
    before = dict(Worker.objects.values_list("name", "updated_at"))
    published.clear(), notices.clear()
    documents = yaml.safe_load_all(workers(200))
    changed = {"w0003", "w0042", "w0199"}
    text = to_yaml(
        *({**d, "spec": {**d["spec"], "model": "claude"}} if d["metadata"]["name"] in changed else d for d in documents)
    )
    outcomes, _ = apply_as(text)
    assert {outcome.name for outcome in outcomes if outcome.action == "configured"} == changed
    assert queued(published) == sorted(changed) and len(published) == len(changed)  # one each: too few to chunk
    rows = {worker.name: worker for worker in Worker.objects.all()}
    assert {name for name, row in rows.items() if row.generation == 2} == changed
    assert {name for name, row in rows.items() if row.updated_at != before[name]} == changed
    assert rows["w0042"].model == "claude" and rows["w0041"].model == "qwen"
    [(groups, message)] = notices
    assert groups == [live.CHANGES_GROUP]
    assert message == {
        "type": "resources.changed",
        "workers": [[name, ""] for name in sorted(changed)],
        "debugworkers": [],
        "teams": [],
    }
    assert AuditRecord.objects.filter(action="apply:configured").count() == 3


def test_a_change_too_big_to_name_asks_pages_to_refresh(apply_as, notices):
    apply_as(workers(live.COALESCE_LIMIT + 1))
    assert notices == [([live.CHANGES_GROUP], {"type": "resources.changed", "refresh": True})]


# --- reconcile_many ----------------------------------------------------------------------
def test_ten_thousand_reconciles_go_in_chunks_of_at_most_a_hundred(published):
    names = [f"w{i:05d}" for i in range(10_000)]
    enqueue_many("Worker", names)
    assert len(published) == 10_000 // RECONCILE_CHUNK
    assert all(len(m["args"][1]) <= RECONCILE_CHUNK for m in published) and queued(published) == names


def test_reconcile_many_reconciles_every_name_and_queues_a_busy_one_again(apply_as, published):
    apply_as(workers(4))
    published.clear()
    names = ["w0000", "w0001", "w0002", "w0003"]
    with lock_held_elsewhere("Worker/w0002"):
        tasks.reconcile_many("Worker", names)
    settled = set(Worker.objects.filter(reconciled_at__isnull=False).values_list("name", flat=True))
    assert settled == {"w0000", "w0001", "w0003"}
    # The busy one comes back as a message of its own kind, after the busy retry's countdown.
    [again] = published
    assert (again["task"], again["args"][:2]) == (RECONCILE_TASK, ("Worker", "w0002"))
    assert again["headers"].get("eta")


def test_reconcile_many_looks_the_manager_up_once_for_its_chunk(apply_as, settings):
    settings.HICLAW_MATRIX_DOMAIN = "hiclaw.local"
    apply_as(workers(5) + "---\n" + to_yaml(manifest("Manager", "boss", {"model": "qwen", "state": "Sleeping"})))
    with CaptureQueriesContext(connection) as queries:
        tasks.reconcile_many("Worker", [f"w{i:04d}" for i in range(5)])
    assert Worker.objects.filter(reconciled_at__isnull=False).count() == 5
    manager_reads = [q["sql"] for q in queries.captured_queries if 'FROM "controller_manager"' in q["sql"]]
    assert len(manager_reads) == 1
    # What was read once reached every pass: each standalone Worker's channel policy names it.
    storage = default_connections().storage
    for i in range(5):
        config = json.loads(storage.get(f"agents/w{i:04d}/openclaw.json"))
        assert config["channelPolicy"]["dmAllow"] == ["@hiclaw-manager-boss:hiclaw.local"]


def test_reconcile_many_queues_a_name_whose_pass_raised_on_its_own(published):
    tasks.reconcile_many("NoSuchKind", ["x", "y"])
    assert [(m["task"], tuple(m["args"][:2])) for m in published] == [
        (RECONCILE_TASK, ("NoSuchKind", "x")),
        (RECONCILE_TASK, ("NoSuchKind", "y")),
    ]


# --- reading -----------------------------------------------------------------------------
def test_manifests_are_read_with_libyaml_and_errors_still_name_their_line():
    assert yaml.__with_libyaml__ and issubclass(ManifestLoader, yaml.CSafeLoader)
    text = workers(3) + "---\nkind: Worker\nmetadata: {name: [unclosed\n"
    with pytest.raises(ManifestInvalid) as invalid:
        parse(text)
    [error] = invalid.value.errors
    # The stream ends inside the unclosed list: libyaml's mark is the line after the last.
    end = len(text.splitlines()) + 1
    assert error.rule == "yaml-syntax" and f"invalid YAML at line {end}, column 1" in error.message
