"""End to end on real services: Docker engine, Synapse, S3 (moto) — and a gateway stand-in.

No Higress console can be had here, so the gateway side runs against the
in-test HTTP stand-in of its console API (tests/gateway_standin.py, wired in
tests/services/world.py). Every other service is the real thing, started by
the session fixtures in tests/services/. Assertions read the world through
each service's own API, never through the reconciler's memory.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from controller.connections import Connections
from controller.models import Worker
from controller.reconcilers import reconcile
from controller.reconcilers.worker import WorkerReconciler
from controller.services.apply import apply_text
from controller.services.lifecycle import request_deletion, set_desired_state
from tests.helpers import manifest, to_yaml

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MANAGER = to_yaml(manifest("Manager", "default", {"model": "claude-opus-4"}))


def worker_manifest(name: str) -> str:
    spec = {
        "model": "qwen3.5-plus",
        "soul": "Be thorough.",
        "mcpServers": ["github"],
        "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
    }
    return to_yaml(manifest("Worker", name, spec))


MUTATING = {
    "backend": {"create", "start", "stop", "delete"},
    "matrix": {"register", "login", "create_room", "invite", "join", "kick", "set_power_levels", "deactivate"},
    "storage": {"put", "delete", "delete_prefix", "copy_prefix"},
}


class Recorder:
    """Passes every call through to ``target`` and records the names of the mutating ones."""

    def __init__(self, target, mutating: set[str]):
        self._target, self._mutating, self.calls = target, mutating, []

    def __getattr__(self, name):
        attribute = getattr(self._target, name)
        if name not in self._mutating:
            return attribute

        def recorded(*args, **kwargs):
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return recorded


@pytest.fixture
def world(real_services):
    apply_text(MANAGER)
    return real_services


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


def rooms_named(synapse, name: str) -> int:
    response = requests.get(
        f"{synapse.base_url}/_synapse/admin/v1/rooms",
        params={"search_term": f"Worker: {name}"},
        headers={"Authorization": f"Bearer {synapse.admin.access_token}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["total_rooms"]


def test_worker_lifecycle_on_docker_synapse_and_s3(world, synapse, docker_service, gateway_standin):
    name = unique("e2e")
    apply_text(worker_manifest(name))
    assert reconcile("Worker", name, connections=world).requeue_after is None

    worker = Worker.objects.get(name=name)
    assert worker.phase == "Running", worker.message
    assert {c["type"]: c["status"] for c in worker.conditions} == {
        "MatrixReady": "True",
        "GatewayReady": "True",
        "StorageReady": "True",
        "InstanceReady": "True",
    }

    # The container, as the Docker engine sees it.
    container = docker_service.client.containers.get(f"hiclaw-worker-{name}")
    assert container.status == "running"
    assert container.labels["hiclaw.io/controller"] == docker_service.controller_id
    assert (container.labels["hiclaw.io/kind"], container.labels["hiclaw.io/name"]) == ("worker", name)
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    assert env["HICLAW_WORKER_NAME"] == name and env["HICLAW_AGENT_TOKEN"].startswith("hct_")
    assert env["HICLAW_CONTROLLER_URL"] == "http://controller.test:8000"
    assert container.attrs["HostConfig"]["NanoCpus"] == 500_000_000
    assert container.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024

    # The Matrix account and room, as the homeserver sees them.
    matrix, admin = world.matrix, synapse.admin
    assert not matrix.user_info(admin, worker.matrix_user_id).get("deactivated")
    manager_id = matrix.user_id("hiclaw-manager-default")
    members = matrix.room_members(admin, worker.room_id)
    assert members == {admin.user_id: "join", worker.matrix_user_id: "join", manager_id: "invite"}
    levels = matrix.power_levels(admin, worker.room_id)["users"]
    assert levels.get(manager_id) == 100 and levels.get(worker.matrix_user_id, 0) == 0
    assert matrix.resolve_alias(admin, f"hiclaw-worker-{name}-room") == worker.room_id

    # The generated files, as S3 holds them.
    keys = {info.key for info in world.storage.list(f"agents/{name}/")}
    assert keys == {f"agents/{name}/{f}" for f in ("openclaw.json", "SOUL.md", "IDENTITY.md", "AGENTS.md")}
    assert world.storage.get(f"agents/{name}/SOUL.md") == b"Be thorough."

    # The gateway consumer, route and MCP authorization.
    consumer = f"hiclaw-worker-{name}"
    assert consumer in gateway_standin.consumers
    assert consumer in gateway_standin.mcp_servers["github"]

    # Sleep: the container stops, the workspace stays.
    set_desired_state(worker, "Sleeping")
    reconcile("Worker", name, connections=world)
    container.reload()
    assert container.status == "exited"
    assert Worker.objects.get(name=name).phase == "Sleeping"
    assert world.storage.exists(f"agents/{name}/openclaw.json")

    # Delete: container gone, account deactivated, consumer removed, row gone.
    request_deletion(worker)
    reconcile("Worker", name, connections=world)
    assert not Worker.objects.filter(name=name).exists()
    assert not docker_service.client.containers.list(all=True, filters={"name": f"hiclaw-worker-{name}"})
    assert matrix.user_info(admin, worker.matrix_user_id)["deactivated"]
    assert consumer not in gateway_standin.consumers
    assert consumer not in gateway_standin.mcp_servers["github"]


def test_second_pass_changes_nothing_outside(world, gateway_standin):
    name = unique("idem")
    apply_text(worker_manifest(name))
    reconcile("Worker", name, connections=world)
    recorded = Connections(
        backend=Recorder(world.backend, MUTATING["backend"]),
        storage=Recorder(world.storage, MUTATING["storage"]),
        matrix=Recorder(world.matrix, MUTATING["matrix"]),
        gateway=world.gateway,
        admin_session=world.admin_session,
    )
    gateway_writes = gateway_standin.writes()
    reconcile("Worker", name, connections=recorded)
    assert (recorded.backend.calls, recorded.matrix.calls, recorded.storage.calls) == ([], [], [])
    assert gateway_standin.writes() == gateway_writes
    assert Worker.objects.get(name=name).phase == "Running"


@pytest.mark.parametrize("crash_after", range(4), ids=["matrix", "gateway", "config", "instance"])
def test_crash_after_each_step_converges_without_duplicates(
    world, synapse, docker_service, gateway_standin, crash_after
):
    name = unique("crash")
    apply_text(worker_manifest(name))
    crashing = WorkerReconciler(world)
    real_step = crashing.steps[crash_after]

    def step_then_crash(worker):
        real_step(worker)
        raise RuntimeError("controller killed here")

    crashing.steps[crash_after] = step_then_crash
    with pytest.raises(RuntimeError):
        crashing.reconcile(Worker.objects.get(name=name))

    assert reconcile("Worker", name, connections=world).requeue_after is None
    assert reconcile("Worker", name, connections=world).requeue_after is None
    worker = Worker.objects.get(name=name)
    assert worker.phase == "Running"
    containers = docker_service.client.containers.list(all=True, filters={"label": f"hiclaw.io/name={name}"})
    assert len(containers) == 1
    assert rooms_named(synapse, name) == 1
    assert [c for c in gateway_standin.consumers if c.endswith(name)] == [f"hiclaw-worker-{name}"]
