"""A pass waits on two services at once: the gateway beside Matrix, registration beside the room.

Real Synapse, S3 (moto), Docker and the gateway stand-in (tests/services/world.py). What
must hold whatever the timing: each outcome is recorded on the row by the pass itself,
a failure on one side keeps what the other side achieved, and nothing runs on after the pass.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from controller import naming
from controller.clients.gateway import GatewayClient
from controller.clients.matrix import MatrixSession
from controller.connections import Connections
from controller.models import Worker
from controller.reconcilers import reconcile
from controller.reconcilers.overlap import beside
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml
from tests.test_worker_e2e import MUTATING, Recorder


def worker(name: str) -> str:
    return to_yaml(manifest("Worker", name, {"model": "qwen3.5-plus", "mcpServers": ["github"]}))


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


class ThreadNotingGateway(GatewayClient):
    """The real client, noting which thread gives each consumer."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.threads: list[str] = []

    def ensure_consumer(self, name: str, api_key: str) -> None:
        self.threads.append(threading.current_thread().name)
        super().ensure_consumer(name, api_key)


# --- the helper -------------------------------------------------------------------------
def test_beside_runs_the_call_in_another_thread_and_hands_its_result_over():
    with beside(threading.current_thread) as other:
        pass
    assert other.result() is not threading.current_thread()
    assert other.result().name.startswith("hiclaw-beside")


def test_leaving_beside_by_an_exception_still_waits_for_the_call():
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        finished.set()

    with pytest.raises(RuntimeError), beside(slow):
        raise RuntimeError("the block failed")
    assert finished.is_set()


def test_the_calls_exception_is_the_futures_not_the_blocks():
    def refuse() -> None:
        raise ValueError("refused")

    with beside(refuse) as call:
        pass
    assert isinstance(call.exception(), ValueError)


# --- the Worker pass ----------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.slow
def test_the_gateway_calls_go_out_beside_matrix_and_are_recorded_by_the_pass(real_services, gateway_standin):
    gateway = ThreadNotingGateway(gateway_standin.url, "admin", "console-pass")
    services = Connections(
        backend=real_services.backend,
        storage=real_services.storage,
        matrix=real_services.matrix,
        gateway=gateway,
        admin_session=real_services.admin_session,
    )
    name = unique("beside")
    apply_text(worker(name))
    assert reconcile("Worker", name, connections=services).requeue_after is None
    row = Worker.objects.get(name=name)
    assert row.phase == "Running"
    assert (row.condition("GatewayReady")["status"], row.condition("MatrixReady")["status"]) == ("True", "True")
    assert [t.split("_")[0] for t in gateway.threads] == ["hiclaw-beside"]
    assert f"hiclaw-worker-{name}" in gateway_standin.consumers


@pytest.mark.django_db
@pytest.mark.slow
def test_a_gateway_refusal_is_recorded_after_what_matrix_achieved_beside_it(real_services, settings):
    settings.HICLAW_GATEWAY_PROVIDER = "no-such-provider"  # the console refuses the AI route
    name = unique("refused")
    apply_text(worker(name))
    reconcile("Worker", name, connections=real_services)
    row = Worker.objects.get(name=name)
    gateway = row.condition("GatewayReady")
    assert (row.phase, gateway["status"], gateway["reason"]) == ("Failed", "False", "Refused")
    assert row.condition("MatrixReady")["status"] == "True"
    assert row.room_id and row.matrix_access_token  # saved although a later step failed
    assert row.condition("InstanceReady") is None  # the steps after the gateway did not run


@pytest.mark.django_db
@pytest.mark.slow
def test_a_room_that_fails_keeps_the_account_registered_beside_it(real_services, synapse):
    name = unique("squat")
    # Someone else holds the agent's room alias: the admin account cannot read that room.
    squatter = synapse.client().register(f"squatter-{uuid.uuid4().hex[:6]}", "squatter-password")
    synapse.client().create_room(squatter, name="not yours", alias_localpart=naming.room_alias("worker", name))
    apply_text(worker(name))

    assert reconcile("Worker", name, connections=real_services).requeue_after == 2
    row = Worker.objects.get(name=name)
    matrix = row.condition("MatrixReady")
    assert (row.phase, matrix["status"]) == ("Pending", "False")
    assert row.room_id == ""
    token = row.matrix_access_token
    assert token  # the registration made beside the failed room is kept
    assert real_services.matrix.whoami(MatrixSession(row.matrix_user_id, token)) == row.matrix_user_id

    recorded = Recorder(real_services.matrix, MUTATING["matrix"])
    again = Connections(
        backend=real_services.backend,
        storage=real_services.storage,
        matrix=recorded,
        gateway=real_services.gateway,
        admin_session=real_services.admin_session,
    )
    reconcile("Worker", name, connections=again)
    assert "register" not in recorded.calls and "login" not in recorded.calls  # the kept session still works
    assert Worker.objects.get(name=name).matrix_access_token == token
