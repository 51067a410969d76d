"""The original CLI's flat bodies carry the original CRDs' fields too: nothing is dropped on the way."""

from __future__ import annotations

from controller.models import Manager, Worker

ENTRY = {"service": "object-storage", "scope": "agents/ledger/*"}


def test_a_flat_worker_body_keeps_its_access_entries(as_persona):
    created = as_persona("admin").post(
        "/api/v1/workers", {"name": "ledger", "model": "qwen", "accessEntries": [ENTRY]}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert Worker.objects.get(name="ledger").spec["accessEntries"] == [ENTRY]


def test_a_flat_manager_body_keeps_its_labels_and_access_entries(as_persona):
    body = {"model": "claude", "labels": {"tier": "control"}, "accessEntries": [ENTRY]}
    updated = as_persona("admin").put("/api/v1/managers/default", body, format="json")
    assert updated.status_code == 200, updated.json()
    spec = Manager.objects.get(name="default").spec
    assert (spec["labels"], spec["accessEntries"]) == ({"tier": "control"}, [ENTRY])


def test_a_bad_access_entry_in_a_flat_body_names_the_field(as_persona):
    refused = as_persona("admin").post(
        "/api/v1/workers", {"name": "ledger", "model": "qwen", "accessEntries": [{"scope": "x"}]}, format="json"
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "spec.accessEntries[0].service"
    assert not Worker.objects.filter(name="ledger").exists()
