"""A pass over an unchanged Worker skips the Matrix, gateway and storage calls of its steps
(controller/reconcilers/step_digests.py), and a change the skip could hide still does the work.

On the real services (Synapse, S3 on moto, Docker) and the gateway stand-in. Calls are
counted where the clients leave the process: every request of a ``requests`` session (the
Matrix and gateway clients, the Docker SDK) and of the ``urllib3`` pool manager the S3
client sends through, by the service its URL names.
"""

from __future__ import annotations

import uuid
from collections import Counter
from contextlib import contextmanager

import pytest
import requests
import urllib3
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controller.models import Worker
from controller.reconcilers import reconcile
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Queries of a pass over an unchanged sleeping Worker: the row, its rollout target, the
# Manager (its room and its channel policy name it); no write.
MAX_UNCHANGED_QUERIES = 6


def sleeping_worker(name: str, **spec) -> str:
    base = {"model": "qwen3.5-plus", "soul": "Be thorough.", "mcpServers": ["github"], "state": "Sleeping"}
    return to_yaml(manifest("Worker", name, {**base, **spec}))


@pytest.fixture
def world(real_services, settings):
    settings.HICLAW_VERIFY_SECONDS = 300
    apply_text(to_yaml(manifest("Manager", "default", {"model": "claude-opus-4"})))
    return real_services


@pytest.fixture
def settled(world):
    """A new sleeping Worker after its first pass."""
    name = f"skip-{uuid.uuid4().hex[:6]}"
    apply_text(sleeping_worker(name))
    assert reconcile("Worker", name, connections=world).requeue_after is None
    worker = Worker.objects.get(name=name)
    assert (worker.phase, worker.observed_generation) == ("Sleeping", worker.generation), worker.message
    return worker


@contextmanager
def outside_calls(monkeypatch, synapse, moto_server, gateway_standin):
    """Count the HTTP requests that leave the process, per service."""
    services = {synapse.base_url: "matrix", moto_server.url: "storage", gateway_standin.url: "gateway"}
    calls: Counter[str] = Counter()

    def count(url: str) -> None:
        found = [service for base, service in services.items() if url.startswith(base)]
        calls[found[0] if found else "backend" if "docker" in url else url] += 1

    send, urlopen = requests.Session.send, urllib3.PoolManager.urlopen

    def counted_send(self, request, **kwargs):
        count(request.url)
        return send(self, request, **kwargs)

    def counted_urlopen(self, method, url, *args, **kwargs):
        count(url)
        return urlopen(self, method, url, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(requests.Session, "send", counted_send)
        patch.setattr(urllib3.PoolManager, "urlopen", counted_urlopen)
        yield calls


@pytest.fixture
def calls(monkeypatch, synapse, moto_server, gateway_standin):
    return lambda: outside_calls(monkeypatch, synapse, moto_server, gateway_standin)


def test_a_second_pass_over_an_unchanged_sleeping_worker_calls_no_service(world, settled, calls):
    with calls() as made, CaptureQueriesContext(connection) as queries:
        assert reconcile("Worker", settled.name, connections=world).requeue_after is None
    # Only the backend is asked (once): its answer is what crash detection and the resync use.
    assert {service: n for service, n in made.items() if service != "backend"} == {}
    assert made["backend"] <= 1
    sql = [query["sql"] for query in queries.captured_queries]
    assert len(sql) <= MAX_UNCHANGED_QUERIES, "\n".join(sql)
    assert not [statement for statement in sql if not statement.startswith("SELECT")], "\n".join(sql)
    assert Worker.objects.get(name=settled.name).conditions == settled.conditions


def test_once_the_verify_period_is_over_a_pass_asks_every_service_again(world, settled, calls, settings):
    settings.HICLAW_VERIFY_SECONDS = 0
    with calls() as made:
        reconcile("Worker", settled.name, connections=world)
    assert made["matrix"] and made["gateway"] and made["storage"], made


def test_a_spec_change_rewrites_the_files_and_the_gateway_authorization(world, settled, calls, gateway_standin):
    gateway_standin.add_mcp_server("jira")
    apply_text(sleeping_worker(settled.name, soul="Be brief.", mcpServers=["github", "jira"]))
    with calls() as made:
        reconcile("Worker", settled.name, connections=world)
    assert made["storage"] and made["gateway"], made
    assert world.storage.get(f"agents/{settled.name}/SOUL.md") == b"Be brief."
    assert f"hiclaw-worker-{settled.name}" in gateway_standin.mcp_servers["jira"]


def test_a_rotated_secret_key_gives_the_consumer_its_new_key(world, settled, gateway_standin, settings):
    consumer = f"hiclaw-worker-{settled.name}"
    before = gateway_standin.consumers[consumer]["credentials"][0]["values"]
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]  # the stored Matrix token still reads
    settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY
    reconcile("Worker", settled.name, connections=world)
    after = gateway_standin.consumers[consumer]["credentials"][0]["values"]
    assert after != before
    assert after[0].encode() in world.storage.get(f"agents/{settled.name}/openclaw.json")


def test_what_was_deleted_outside_is_made_again_once_the_period_is_over(world, settled, gateway_standin, settings):
    consumer = f"hiclaw-worker-{settled.name}"
    config = f"agents/{settled.name}/openclaw.json"  # the file a pass checks for
    gateway_standin.mcp_servers["github"].remove(consumer)
    world.storage.delete(config)
    reconcile("Worker", settled.name, connections=world)  # within the period: the skip trusts the digest
    assert not world.storage.exists(config)
    settings.HICLAW_VERIFY_SECONDS = 0
    reconcile("Worker", settled.name, connections=world)
    assert world.storage.exists(config)
    assert consumer in gateway_standin.mcp_servers["github"]


def test_a_failed_step_is_not_skipped_by_the_next_pass(world, settled, calls, settings):
    worker = Worker.objects.get(name=settled.name)
    worker.set_condition("StorageReady", "False", "Unavailable", "S3 did not answer")
    worker.save(update_fields=["conditions"])
    with calls() as made:
        reconcile("Worker", settled.name, connections=world)
    assert made["storage"], made
    assert Worker.objects.get(name=settled.name).condition("StorageReady")["status"] == "True"
