"""The CRD front door on a real API server: hiclaw.io objects mirrored into the database.

The CRDs come from the chart's crds/ directory; the mirror runs as production runs it,
``watchers()["crds"]`` in a thread until a stop event, against the session's control
plane (tests/services/kube.py). Reconciles run in a worker thread of their own
(tests/reconcile_worker.py) on the process backend, so a Worker object becomes a running
local process, and its status comes back through the status-write task (run eagerly).
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import pytest
import yaml
from django.db import OperationalError
from kubernetes import client

from controller import policy
from controller.manifests import ManifestInvalid, parse, parse_objects
from controller.models import KINDS, AuditRecord, Team, Worker
from controller.services import operations
from tests.helpers import manifest, wait_until
from tests.services.crd_door import GROUP, PLURALS, VERSION, FrontDoor, front_door_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
ADMIN = policy.Principal(policy.ADMIN, "test-admin")


@pytest.fixture
def front_door(kube, kube_namespace, crds, settings, monkeypatch, reconcile_thread):
    door = front_door_for(kube, kube_namespace, settings, monkeypatch, kube.kubeconfig)
    yield door
    door.halt()


@pytest.fixture
def lazy_front_door(kube, kube_namespace, crds, settings, monkeypatch):
    """The front door with reconciles left in the (in-memory) queue."""
    door = front_door_for(kube, kube_namespace, settings, monkeypatch, kube.kubeconfig)
    yield door
    door.halt()


def worker_object(name: str, **spec) -> dict:
    return manifest("Worker", name, {"model": "qwen3.5-plus", **spec})


def _refusal(status: dict) -> bool:
    return any(condition["type"] == "Accepted" for condition in status.get("conditions") or [])


def read(query):
    """``query()``, again while SQLite says a table is locked: the tests' in-memory database
    locks whole tables, and the mirror's threads write while the test reads (PostgreSQL does not)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return query()
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def worker_named(name: str) -> Worker | None:
    return read(lambda: Worker.objects.filter(name=name).first())


# --- the CRDs ----------------------------------------------------------------------------
def test_every_example_manifest_is_accepted_by_the_api_server(kube, kube_namespace, crds):
    door = FrontDoor(kube, kube_namespace)
    examples = sorted((ROOT / "docs" / "examples").glob("*.yaml"))
    assert len(examples) >= 5
    kinds = set()
    for path in examples:
        text = path.read_text()
        parse(text)  # the controller accepts it...
        for body in yaml.safe_load_all(text):
            created = door.create(body)  # ...and so does the API server, unchanged
            assert created["spec"] == body["spec"], path.name
            kinds.add(body["kind"])
    assert kinds == set(PLURALS)


def test_the_crds_show_phase_and_age_and_have_short_names(kube, crds):
    extensions = client.ApiextensionsV1Api(kube.api_client())
    for kind, plural in PLURALS.items():
        crd = extensions.read_custom_resource_definition(f"{plural}.hiclaw.io")
        assert crd.spec.scope == "Namespaced" and crd.spec.names.kind == kind and crd.spec.names.short_names
        (version,) = crd.spec.versions
        assert (version.name, version.served, version.storage) == (VERSION, True, True)
        assert version.subresources.status is not None
        columns = [column.name for column in version.additional_printer_columns]
        assert columns[0] == "Phase" and columns[-1] == "Age"


# --- mirroring ---------------------------------------------------------------------------
def test_every_example_is_mirrored_whatever_order_the_kinds_arrive_in(lazy_front_door):
    """All at once, as ``kubectl apply -f docs/examples/`` sends them: the DebugWorker may come
    before the Team it debugs; it is applied again until it fits. The reconciles are queued,
    not run: the mirroring is what is looked at here."""
    front_door = lazy_front_door
    examples = sorted((ROOT / "docs" / "examples").glob("*.yaml"))
    bodies = [body for path in examples for body in yaml.safe_load_all(path.read_text())]
    for body in sorted(bodies, key=lambda body: body["kind"] != "DebugWorker"):
        front_door.create(body)
    front_door.start()
    for body in bodies:
        model = KINDS[body["kind"]]
        name = body["metadata"]["name"]
        exists = functools.partial(read, model.objects.filter(name=name).exists)
        wait_until(exists, 60, f"{body['kind']}/{name} to be mirrored")
        front_door.status_when(
            body["kind"],
            name,
            lambda status, obj: status.get("phase") and not _refusal(status),
            f"{name}'s status",
            timeout=60,
        )
    members = read(lambda: list(Worker.objects.filter(team__name="alpha-team").values_list("name", flat=True)))
    assert sorted(members) == ["alpha-dev", "alpha-docs", "alpha-lead", "alpha-qa"]
    # The access token reached the DebugWorker's stored secret, not its annotations or spec.
    debug = read(lambda: KINDS["DebugWorker"].objects.get(name="alpha-debug"))
    assert debug.matrix_access_token == "syt_example_token_do_not_use"
    assert "syt_example" not in str(debug.spec) + str(debug.annotations)

    front_door.delete("Team", "alpha-team")
    wait_until(
        lambda: not read(Worker.objects.filter(team__name="alpha-team", deletion_requested_at__isnull=True).exists),
        60,
        "the team's members to be deleted with it",
    )


def test_a_worker_object_runs_its_status_comes_back_edits_apply_and_deletion_deletes(front_door):
    body = worker_object("crd-ada", soul="Be precise.")
    body["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team-note": "x"}
    front_door.create(body)
    front_door.start()

    worker = wait_until(lambda: worker_named("crd-ada"), 30, "the worker to be mirrored")
    assert worker.model == "qwen3.5-plus" and worker.typed_spec.soul == "Be precise."
    # What clients write for themselves stays out; the resource is marked as mirrored.
    assert "kubectl.kubernetes.io/last-applied-configuration" not in worker.annotations
    assert worker.annotations["team-note"] == "x" and worker.annotations["hiclaw.io/source"] == "crd"
    wait_until(lambda: worker_named("crd-ada").phase == "Running", 60, "the worker to run")
    obj = front_door.status_when(
        "Worker",
        "crd-ada",
        lambda status, obj: (
            status.get("phase") == "Running" and status.get("observedGeneration") == obj["metadata"]["generation"]
        ),
        "the object's status to show Running",
    )
    conditions = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conditions["InstanceReady"] == "True" and obj["status"]["containerState"]
    record = AuditRecord.objects.get(target_kind="Worker", target_name="crd-ada", action="apply:created")
    assert (record.identity, record.actor) == ("admin", f"crd:{front_door.namespace}")

    # An edit of the spec reaches the resource, and the status follows the new generation.
    edited = front_door.patch_spec("Worker", "crd-ada", {"model": "claude-sonnet-4"})
    assert edited["metadata"]["generation"] == 2
    wait_until(lambda: worker_named("crd-ada").model == "claude-sonnet-4", 30, "the edit to be mirrored")
    front_door.status_when(
        "Worker",
        "crd-ada",
        lambda status, obj: status.get("observedGeneration") == 2 and status.get("phase") == "Running",
        "the status of generation 2",
    )

    front_door.delete("Worker", "crd-ada")
    wait_until(lambda: worker_named("crd-ada") is None, 60, "the worker to be deleted")
    deleted = AuditRecord.objects.filter(target_name="crd-ada", action="delete", actor__startswith="crd:").exists
    # The record is written just after the deletion request, which the worker thread may finish first.
    wait_until(functools.partial(read, deleted), 10, "the deletion's audit record")


def test_a_status_change_in_the_database_reaches_the_object(front_door):
    front_door.create(worker_object("crd-status"))
    front_door.start()
    wait_until(lambda: (w := worker_named("crd-status")) and w.phase == "Running", 60, "the worker to run")
    front_door.status_when("Worker", "crd-status", lambda status, obj: status.get("phase") == "Running", "Running")

    # A save elsewhere (here, as a reconcile would) is written back without any object event.
    worker = Worker.objects.get(name="crd-status")
    worker.message = "container restarted"
    worker.save()
    front_door.status_when(
        "Worker", "crd-status", lambda status, obj: status.get("message") == "container restarted", "the new message"
    )
    version = front_door.get("Worker", "crd-status")["metadata"]["resourceVersion"]
    # Saves that change no status write nothing: the object stays as it was.
    worker.save()
    assert front_door.get("Worker", "crd-status")["metadata"]["resourceVersion"] == version


def test_an_invalid_object_is_refused_in_its_status_and_creates_nothing(front_door):
    front_door.create(worker_object("crd-bad", modle="typo"))
    front_door.start()
    obj = front_door.status_when(
        "Worker", "crd-bad", lambda status, obj: status.get("phase") == "Invalid", "the refusal in status"
    )
    assert "spec.modle" in obj["status"]["message"] and obj["status"]["observedGeneration"] == 1
    assert obj["status"]["conditions"][0]["type"] == "Accepted"
    assert worker_named("crd-bad") is None

    # Fixed, it is applied, and the refusal gives way to the resource's status.
    front_door.objects.replace_namespaced_custom_object(
        GROUP, VERSION, front_door.namespace, "workers", "crd-bad", {**obj, "spec": {"model": "qwen3.5-plus"}}
    )
    wait_until(lambda: worker_named("crd-bad"), 30, "the fixed object to be mirrored")
    front_door.status_when(
        "Worker",
        "crd-bad",
        lambda status, obj: status.get("phase") == "Running" and status.get("observedGeneration") == 2,
        "the fixed worker's status",
    )


def test_an_object_is_refused_exactly_as_an_admin_apply_would_be(front_door):
    spec = {
        "leader": {"name": "q-lead", "model": "claude-sonnet-4", "permissions": {"maxWorkers": 1}},
        "workers": [{"name": "q-one", "model": "qwen3.5-plus"}, {"name": "q-two", "model": "qwen3.5-plus"}],
    }
    body = manifest("Team", "quota-team", spec)
    with pytest.raises(ManifestInvalid) as refused:
        operations.apply_as(ADMIN, parse_objects([body]), dry_run=True)
    (error,) = refused.value.errors
    front_door.create(body)
    front_door.start()
    obj = front_door.status_when(
        "Team", "quota-team", lambda status, obj: status.get("phase") == "Invalid", "the quota refusal"
    )
    assert obj["status"]["message"] == f"{error.field}: {error.message} [{error.rule}]"
    assert "maxWorkers" in obj["status"]["message"]
    assert not Team.objects.exists() and not Worker.objects.exists()


def test_startup_sweep_deletes_only_resources_whose_object_is_gone(front_door):
    # One applied through the API, one mirrored from an object deleted while no mirror ran.
    operations.apply_as(ADMIN, parse_objects([worker_object("api-made")]))
    marked = worker_object("crd-gone")
    marked["metadata"]["annotations"] = {"hiclaw.io/source": "crd", "hiclaw.io/crd-generation": "1"}
    operations.apply_as(ADMIN, parse_objects([marked]))
    # An object under the API-made resource's name: the front door does not take it over.
    front_door.create(worker_object("api-made", model="claude-sonnet-4"))
    front_door.start()

    wait_until(lambda: worker_named("crd-gone") is None, 60, "the orphaned mirrored worker to be deleted")
    obj = front_door.status_when(
        "Worker", "api-made", lambda status, obj: status.get("phase") == "Failed", "the takeover refusal"
    )
    assert "applied through the API or CLI" in obj["status"]["message"]
    api_made = worker_named("api-made")
    assert api_made is not None and api_made.model == "qwen3.5-plus" and api_made.deletion_requested_at is None
    # Deleting that object leaves the API's resource alone too.
    front_door.delete("Worker", "api-made")
    front_door.create(worker_object("crd-later"))
    wait_until(lambda: worker_named("crd-later"), 30, "a later object to be mirrored (the delete was handled)")
    assert worker_named("api-made").deletion_requested_at is None


def test_objects_listed_at_start_are_applied_together(lazy_front_door, caplog):
    """The start-up listing of a kind goes through one apply, whatever its length."""
    for index in range(5):
        lazy_front_door.create(worker_object(f"listed-{index}"))
    with caplog.at_level(logging.INFO, logger="controller.services.crd_apply"):
        lazy_front_door.start()
        for index in range(5):
            lazy_front_door.status_when("Worker", f"listed-{index}", lambda status, obj: status.get("phase"), "status")
    assert any("5 Worker objects mirrored" in record.getMessage() for record in caplog.records)
    assert read(lambda: AuditRecord.objects.filter(target_name__startswith="listed-").count()) == 5


def test_an_invalid_object_in_the_listing_is_refused_alone(lazy_front_door):
    """One invalid object of a listing sends each through on its own: it is refused, the rest apply."""
    for index in range(3):
        lazy_front_door.create(worker_object(f"listed-{index}"))
    lazy_front_door.create(worker_object("listed-bad", modle="typo"))
    lazy_front_door.start()
    obj = lazy_front_door.status_when("Worker", "listed-bad", lambda status, obj: _refusal(status), "the refusal")
    assert "spec.modle" in obj["status"]["message"]
    for index in range(3):
        wait_until(lambda index=index: worker_named(f"listed-{index}"), 60, f"listed-{index} to be mirrored")
    assert worker_named("listed-bad") is None


def test_the_mirror_works_with_the_chart_service_account(
    kube, kube_namespace, crds, settings, monkeypatch, tmp_path, reconcile_thread
):
    """The Role the chart grants is all the front door needs: list, watch, status writes."""
    kubeconfig = kube.chart_kubeconfig(kube_namespace, tmp_path / "service-account.kubeconfig")
    door = front_door_for(kube, kube_namespace, settings, monkeypatch, kubeconfig)
    try:
        door.create(worker_object("crd-sa"))
        door.start()
        door.status_when(
            "Worker", "crd-sa", lambda status, obj: status.get("phase") == "Running", "Running, written by the SA"
        )
        door.create(worker_object("crd-sa-bad", modle="x"))
        door.status_when("Worker", "crd-sa-bad", lambda status, obj: status.get("phase") == "Invalid", "the refusal")
        door.delete("Worker", "crd-sa")
        wait_until(lambda: worker_named("crd-sa") is None, 60, "the worker to be deleted")
    finally:
        door.halt()
