"""The WorkerBackend contract (controller/backends/base.py), run against the process backend, a real
Docker Engine and a real Kubernetes API server (with kwok as its node).

What a backend reports is checked out of band where it matters: container
labels, env and limits through the Docker SDK, a process's env through
/proc/<pid>/environ, its state files on disk, a pod's labels and env (with the
values of its Secret) through the Kubernetes API as admin. The Kubernetes backend
itself runs with the token of the chart's ServiceAccount, so the suite also
proves the chart's Role grants enough.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from controller import backends
from controller.backends import (
    BackendError,
    ImageNotFound,
    InstanceConflict,
    InstanceNotFound,
    InstanceSpec,
    InstanceState,
    InvalidSpec,
    get_backend,
)
from controller.backends.base import LABEL_CONTROLLER, LABEL_KIND, LABEL_NAME, LABEL_TEAM, cpu_nanos, memory_bytes
from controller.backends.docker import DockerBackend
from controller.backends.kubernetes import KubernetesBackend
from controller.backends.process import ProcessBackend
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

# kwok plays the node: pods are scheduled and reported Running, but no container runs.
NO_KUBELET = "kubernetes: kwok simulates the node and no kubelet runs containers, so there are no logs, exec or exits"
SLEEPER = (sys.executable, "-c", "print('hello', flush=True); import time; time.sleep(600)")


class Harness:
    """One backend under test, and how to build specs for it and look at its instances from outside."""

    def __init__(self, kind: str, backend, *, image: str, docker_service=None, kube_admin=None):
        self.kind, self.backend, self.image, self.docker = kind, backend, image, docker_service
        self.kube = kube_admin  # a CoreV1Api as admin, to look at what the backend made
        self.cleanups: list[Callable[[], None]] = []

    def needs_running_containers(self) -> None:
        if self.kind == "kubernetes":
            pytest.skip(NO_KUBELET)

    def spec(self, *, exit_code: int | None = None, image: str | None = None, **fields) -> InstanceSpec:
        resource = fields.pop("resource", f"t{uuid.uuid4().hex[:8]}")
        name = fields.pop("name", f"hiclaw-test-{resource}")
        env = dict(fields.pop("env", {}))
        if self.kind == "kubernetes":
            command = ()
        elif self.kind == "docker":
            command = ()
            if exit_code is not None:
                env["HICLAW_TEST_EXIT"] = str(exit_code)
        elif exit_code is None:
            command = SLEEPER
        else:
            command = (sys.executable, "-c", f"import sys; print('hello', flush=True); sys.exit({exit_code})")
        fields.setdefault("kind", "worker")
        return InstanceSpec(name=name, resource=resource, image=image or self.image, command=command, env=env, **fields)

    def make_foreign(self) -> str:
        """An instance on the same engine / state dir that belongs to another controller."""
        spec = self.spec()
        if self.kind == "docker":
            container = self.docker.client.containers.run(
                self.image,
                name=spec.name,
                detach=True,
                init=True,
                labels={LABEL_CONTROLLER: f"{self.backend.controller_id}-other", **self.docker.session_labels},
            )
            self.cleanups.append(lambda: container.remove(force=True))
        elif self.kind == "kubernetes":
            labels = {LABEL_CONTROLLER: f"{self.backend.controller_id}-other"}
            pod = {
                "metadata": {"name": spec.name, "labels": labels},
                "spec": {"containers": [{"name": "agent", "image": self.image}]},
            }
            self.kube.create_namespaced_pod(self.backend.namespace, pod)
        else:
            other = ProcessBackend("someone-else", state_dir=self.backend.state_dir, stop_timeout=2)
            other.create(spec)
            self.cleanups.append(lambda: other.delete(spec.name))
        return spec.name

    def kill(self, name: str) -> None:
        """SIGKILL the instance from outside, as the kernel's OOM killer or an operator would."""
        if self.kind == "docker":
            self.docker.client.containers.get(name).kill(signal="SIGKILL")
        else:
            os.kill(process_pid(self.backend, name), signal.SIGKILL)

    def observed_labels(self, name: str) -> dict[str, str]:
        if self.kind == "kubernetes":
            return self.kube.read_namespaced_pod(name, self.backend.namespace).metadata.labels
        if self.kind == "docker":
            return self.docker.client.containers.get(name).attrs["Config"]["Labels"]
        return json.loads((self.backend.state_dir / name / "instance.json").read_text())["labels"]

    def observed_env(self, name: str) -> dict[str, str]:
        if self.kind == "kubernetes":
            return kube_pod_env(self.kube, self.backend.namespace, name)
        if self.kind == "docker":
            pairs = self.docker.client.containers.get(name).attrs["Config"]["Env"]
        else:
            environ = Path(f"/proc/{process_pid(self.backend, name)}/environ").read_bytes()
            pairs = [item.decode() for item in environ.split(b"\0") if item]
        return dict(pair.split("=", 1) for pair in pairs)

    def really_gone(self, name: str) -> bool:
        if self.kind == "kubernetes":
            namespace, selector = self.backend.namespace, f"metadata.name={name}"
            return not any(
                list_objects(namespace, field_selector=selector).items
                for list_objects in (
                    self.kube.list_namespaced_pod,
                    self.kube.list_namespaced_secret,
                    self.kube.list_namespaced_service,
                )
            )
        if self.kind == "docker":
            return not self.docker.client.containers.list(all=True, filters={"name": f"^/{name}$"})
        return not (self.backend.state_dir / name).exists()


def kube_pod_env(core, namespace: str, name: str) -> dict[str, str]:
    """A pod's env as its container would see it: plain values, and the Secret keys it refers to."""
    env = {}
    for item in core.read_namespaced_pod(name, namespace).spec.containers[0].env or []:
        if item.value_from is None:
            env[item.name] = item.value or ""
        else:
            ref = item.value_from.secret_key_ref
            data = core.read_namespaced_secret(ref.name, namespace).data or {}
            env[item.name] = base64.b64decode(data[ref.key]).decode()
    return env


def process_pid(backend: ProcessBackend, name: str) -> int:
    return json.loads((backend.state_dir / name / "pid").read_text())["pid"]


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


@pytest.fixture(params=["process", "docker", "kubernetes"])
def harness(request, settings, tmp_path):
    if request.param == "kubernetes":
        kube, namespace = request.getfixturevalue("kube"), request.getfixturevalue("kube_namespace")
        from kubernetes import client

        backend = KubernetesBackend(
            f"hiclaw-test-{uuid.uuid4().hex[:8]}",
            api_client=kube.api_client(token=kube.chart_service_account_token(namespace)),
            namespace=namespace,
            ready_timeout=60,
            stop_timeout=2,
        )
        harness = Harness("kubernetes", backend, image="busybox:1.36", kube_admin=client.CoreV1Api(kube.api_client()))
    elif request.param == "docker":
        service = request.getfixturevalue("docker_service")
        backend = DockerBackend(service.controller_id, network=service.network, stop_timeout=2, pull_missing=False)
        harness = Harness("docker", backend, image=service.image, docker_service=service)
    else:
        settings.DATA_DIR = tmp_path
        backend = ProcessBackend(f"hiclaw-test-{uuid.uuid4().hex[:8]}", stop_timeout=2)
        harness = Harness("process", backend, image="local/python")
    yield harness
    for cleanup in harness.cleanups:
        cleanup()
    for info in backend.list():
        backend.delete(info.name)


# --- the contract, for every backend ---------------------------------------------------
def test_instance_lifecycle_create_stop_start_delete(harness):
    backend, spec = harness.backend, harness.spec()

    status = backend.create(spec)
    assert status.state == InstanceState.RUNNING
    assert status.image == spec.image
    assert status.started_at is not None and status.started_at.tzinfo is not None

    backend.stop(spec.name)
    assert backend.status(spec.name).state == InstanceState.STOPPED
    backend.stop(spec.name)  # idempotent
    assert backend.status(spec.name).state == InstanceState.STOPPED

    backend.start(spec.name)
    restarted = backend.status(spec.name)
    assert restarted.state == InstanceState.RUNNING
    assert restarted.started_at >= status.started_at

    backend.delete(spec.name)
    assert backend.status(spec.name).state == InstanceState.MISSING
    assert harness.really_gone(spec.name)
    backend.delete(spec.name)  # idempotent


def test_create_twice_keeps_one_instance(harness):
    backend, spec = harness.backend, harness.spec()
    first = backend.create(spec)
    second = backend.create(spec)
    assert second.state == InstanceState.RUNNING
    assert second.started_at == first.started_at  # the same program, not a restart
    assert [info.name for info in backend.list()].count(spec.name) == 1


def test_create_starts_a_stopped_instance(harness):
    backend, spec = harness.backend, harness.spec()
    backend.create(spec)
    backend.stop(spec.name)
    assert backend.create(spec).state == InstanceState.RUNNING


def test_create_with_another_image_is_a_conflict(harness):
    backend, spec = harness.backend, harness.spec()
    backend.create(spec)
    with pytest.raises(InstanceConflict) as error:
        backend.create(harness.spec(image="hiclaw-test/other:1", name=spec.name, resource=spec.resource))
    assert not error.value.temporary


def test_unknown_instance_is_missing(harness):
    backend = harness.backend
    assert backend.status("hiclaw-test-nobody").state == InstanceState.MISSING
    backend.stop("hiclaw-test-nobody")
    backend.delete("hiclaw-test-nobody")
    with pytest.raises(InstanceNotFound):
        backend.start("hiclaw-test-nobody")
    with pytest.raises(InstanceNotFound):
        backend.logs("hiclaw-test-nobody")


def test_list_returns_only_this_controllers_instances(harness):
    backend = harness.backend
    ours = harness.spec(team="blue")
    backend.create(ours)
    foreign = harness.make_foreign()

    listed = {info.name: info for info in backend.list()}
    assert foreign not in listed
    assert backend.status(foreign).state == InstanceState.MISSING
    backend.delete(foreign)  # not ours: left alone
    assert not harness.really_gone(foreign)
    info = listed[ours.name]
    assert (info.kind, info.resource, info.team, info.state) == ("worker", ours.resource, "blue", InstanceState.RUNNING)


def test_another_controllers_name_cannot_be_taken(harness):
    foreign = harness.make_foreign()
    spec = harness.spec()
    with pytest.raises(InstanceConflict):
        harness.backend.create(harness.spec(name=foreign, resource=spec.resource))


def test_logs_contain_what_the_program_printed(harness):
    harness.needs_running_containers()
    spec = harness.spec()
    harness.backend.create(spec)
    wait_until(lambda: "hello" in harness.backend.logs(spec.name), what="the greeting in the logs")
    assert harness.backend.logs(spec.name, tail=1).count("\n") <= 1


def test_exec_returns_output_and_exit_code(harness):
    harness.needs_running_containers()
    spec = harness.spec(env={"GREETING": "bonjour"})
    harness.backend.create(spec)
    code, output = harness.backend.exec(spec.name, ["sh", "-c", "echo out $GREETING; echo err >&2; exit 3"])
    assert code == 3
    assert "out bonjour" in output and "err" in output
    assert harness.backend.exec(spec.name, ["true"]) == (0, "")


def test_labels_and_env_reach_the_instance(harness):
    spec = harness.spec(
        kind="debugworker",
        team="blue",
        env={"HICLAW_AGENT_TOKEN": "t0ken"},
        labels={"example.com/tier": "gold", LABEL_CONTROLLER: "spoofed"},
    )
    harness.backend.create(spec)
    labels = harness.observed_labels(spec.name)
    assert labels["example.com/tier"] == "gold"
    assert labels[LABEL_CONTROLLER] == harness.backend.controller_id  # system labels win
    assert (labels[LABEL_KIND], labels[LABEL_NAME], labels[LABEL_TEAM]) == ("debugworker", spec.resource, "blue")
    assert harness.observed_env(spec.name)["HICLAW_AGENT_TOKEN"] == "t0ken"


def test_program_exiting_with_an_error_is_failed(harness):
    harness.needs_running_containers()  # kubernetes: tests/test_kubernetes_backend.py reports exits as a kubelet would
    spec = harness.spec(exit_code=3)
    harness.backend.create(spec)
    status = wait_until(
        lambda: (s := harness.backend.status(spec.name)).state == InstanceState.FAILED and s.exit_code == 3 and s,
        what="Failed with exit code 3",
    )
    assert "3" in status.message


def test_watch_reports_a_kill_at_once_and_ends_when_stopped(harness):
    harness.needs_running_containers()  # kubernetes: tests/test_kubernetes_backend.py watches pods
    spec = harness.spec()
    harness.backend.create(spec)
    seen: queue.Queue = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(target=harness.backend.watch, args=(seen.put, stop), daemon=True)
    thread.start()
    try:
        # Every instance is reported when the watch (re)connects.
        first = _next_about(seen, spec.name, 10)
        assert (first.kind, first.resource, first.state) == ("worker", spec.resource, InstanceState.RUNNING)
        killed_at = time.monotonic()
        harness.kill(spec.name)
        while (
            info := _next_about(seen, spec.name, killed_at + WATCH_BOUND - time.monotonic())
        ).state == InstanceState.RUNNING:
            pass
        print(f"\n{harness.kind}: kill reported by watch in {time.monotonic() - killed_at:.3f} s")
        assert info.state in (InstanceState.FAILED, InstanceState.STOPPED)
    finally:
        stopped_at = time.monotonic()
        stop.set()
        thread.join(5)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 2, "watch did not end promptly"


WATCH_BOUND = 5.0  # seconds from a kill to its report; promptly in practice (see the printed figure)


def _next_about(seen: queue.Queue, name: str, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = seen.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            pytest.fail(f"the watch reported nothing about {name} in time")
        if info.name == name:
            return info


# --- docker only ----------------------------------------------------------------------
def test_docker_container_gets_limits_network_and_restart_policy(docker_service):
    backend = DockerBackend(docker_service.controller_id, network=docker_service.network, stop_timeout=2)
    spec = InstanceSpec(
        name=f"hiclaw-test-{uuid.uuid4().hex[:8]}",
        kind="worker",
        resource="limits",
        image=docker_service.image,
        cpu="500m",
        memory="64Mi",
    )
    try:
        status = backend.create(spec)
        attrs = docker_service.client.containers.get(spec.name).attrs
        assert attrs["HostConfig"]["NanoCpus"] == 500_000_000
        assert attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
        assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"  # the controller restarts crashed instances
        assert attrs["HostConfig"]["Init"] is True
        assert status.ip == attrs["NetworkSettings"]["Networks"][docker_service.network]["IPAddress"] != ""
    finally:
        backend.delete(spec.name)


def test_docker_missing_image_is_a_permanent_error(docker_service):
    backend = DockerBackend(docker_service.controller_id, network=docker_service.network, pull_missing=False)
    spec = InstanceSpec(
        name=f"hiclaw-test-{uuid.uuid4().hex[:8]}", kind="worker", resource="x", image="hiclaw-test/absent:1"
    )
    with pytest.raises(ImageNotFound) as error:
        backend.create(spec)
    assert not error.value.temporary


def test_docker_engine_down_is_a_temporary_error(tmp_path):
    backend = DockerBackend("hiclaw-test", base_url=f"unix://{tmp_path}/no-docker.sock", timeout=1)
    with pytest.raises(BackendError) as error:
        backend.status("hiclaw-test-anything")
    assert error.value.temporary
    with pytest.raises(BackendError) as error:  # the watcher loop starts it again after a backoff
        backend.watch(lambda info: None, threading.Event())
    assert error.value.temporary


# --- process only ---------------------------------------------------------------------
@pytest.fixture
def process_backend(tmp_path):
    backend = ProcessBackend("hiclaw-test", state_dir=tmp_path / "instances", stop_timeout=2)
    yield backend
    for info in backend.list():
        backend.delete(info.name)


def process_spec(**fields) -> InstanceSpec:
    resource = f"t{uuid.uuid4().hex[:8]}"
    fields.setdefault("command", SLEEPER)
    return InstanceSpec(name=f"hiclaw-test-{resource}", kind="worker", resource=resource, **fields)


def test_process_instance_survives_a_controller_restart(process_backend):
    spec = process_spec()
    process_backend.create(spec)
    pid = process_pid(process_backend, spec.name)

    restarted = ProcessBackend("hiclaw-test", state_dir=process_backend.state_dir, stop_timeout=2)
    assert restarted.status(spec.name).state == InstanceState.RUNNING
    assert [info.name for info in restarted.list()] == [spec.name]
    restarted.stop(spec.name)
    assert restarted.status(spec.name).state == InstanceState.STOPPED
    assert process_gone(pid)


def test_process_killed_out_of_band_is_failed(process_backend):
    spec = process_spec()
    process_backend.create(spec)
    os.kill(process_pid(process_backend, spec.name), signal.SIGKILL)
    status = wait_until(
        lambda: (s := process_backend.status(spec.name)).state != InstanceState.RUNNING and s, what="not Running"
    )
    assert status.state == InstanceState.FAILED
    wait_until(lambda: process_backend.status(spec.name).exit_code == 128 + signal.SIGKILL, what="exit code 137")
    assert process_backend.status(spec.name).message == "killed by signal SIGKILL"


def test_process_recycled_pid_is_not_taken_for_ours(process_backend):
    spec = process_spec()
    process_backend.create(spec)
    process_backend.stop(spec.name)
    pid_file = process_backend.state_dir / spec.name / "pid"
    run = json.loads(pid_file.read_text())
    # Our own pid is alive, but started at another time than the one recorded.
    pid_file.write_text(json.dumps({**run, "pid": os.getpid()}))
    assert process_backend.status(spec.name).state != InstanceState.RUNNING


def test_process_stop_takes_down_the_whole_process_group(process_backend):
    spec = InstanceSpec(
        name=f"hiclaw-test-{uuid.uuid4().hex[:8]}",
        kind="worker",
        resource="group",
        command=("sh", "-c", "sleep 600 & echo $! > child.pid; wait"),
    )
    process_backend.create(spec)
    child_pid_file = process_backend.state_dir / spec.name / "workdir" / "child.pid"
    child = int(wait_until(lambda: child_pid_file.exists() and child_pid_file.read_text().strip(), what="child pid"))
    process_backend.stop(spec.name)
    wait_until(lambda: process_gone(child), what="the grandchild to be gone")


def test_process_exiting_cleanly_is_stopped_not_failed(process_backend):
    spec = process_spec(command=(sys.executable, "-c", "print('done')"))
    process_backend.create(spec)
    status = wait_until(
        lambda: (s := process_backend.status(spec.name)).state != InstanceState.RUNNING and s, what="not Running"
    )
    assert (status.state, status.exit_code) == (InstanceState.STOPPED, 0)


def test_process_missing_program_is_a_permanent_error(process_backend):
    spec = InstanceSpec(name="hiclaw-test-noprog", kind="worker", resource="noprog", command=("/nonexistent/agent",))
    with pytest.raises(ImageNotFound) as error:
        process_backend.create(spec)
    assert not error.value.temporary


def test_process_state_files_are_private(process_backend):
    spec = process_spec(env={"HICLAW_AGENT_TOKEN": "t0ken"})
    process_backend.create(spec)
    assert (process_backend.state_dir / spec.name / "instance.json").stat().st_mode & 0o077 == 0


# --- spec validation and the factory ---------------------------------------------------
@pytest.mark.parametrize(
    ("parse", "quantity", "expected"),
    [
        (cpu_nanos, "500m", 500_000_000),
        (cpu_nanos, "2", 2_000_000_000),
        (cpu_nanos, "0.25", 250_000_000),
        (memory_bytes, "512Mi", 512 * 2**20),
        (memory_bytes, "2Gi", 2 * 2**30),
        (memory_bytes, "1G", 10**9),
        (memory_bytes, "129e6", 129 * 10**6),
        (memory_bytes, "1024", 1024),
        (memory_bytes, None, None),
    ],
)
def test_kubernetes_quantities_become_docker_limits(parse, quantity, expected):
    assert parse(quantity) == expected


@pytest.mark.parametrize("fields", [{"cpu": "lots"}, {"memory": "2GB"}, {"kind": "robot"}, {"name": "../etc"}])
def test_malformed_spec_is_refused(fields):
    with pytest.raises(InvalidSpec):
        InstanceSpec(**{"name": "hiclaw-test-x", "kind": "worker", "resource": "x", **fields})


def test_backend_is_chosen_by_setting(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.HICLAW_BACKEND = "process"
    backend = get_backend()
    assert isinstance(backend, ProcessBackend)
    assert backend.controller_id == settings.HICLAW_CONTROLLER_ID
    assert backend.state_dir == tmp_path / "instances"
    assert isinstance(get_backend("docker"), DockerBackend)
    assert isinstance(get_backend("kubernetes"), KubernetesBackend)  # no API call until it is used
    with pytest.raises(ImproperlyConfigured, match="kubernetes"):
        get_backend("podman")


def test_auto_is_kubernetes_inside_a_pod(monkeypatch, settings):
    settings.HICLAW_NAMESPACE = "agents"
    backends.resolve_auto.cache_clear()
    try:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
        backend = get_backend("auto")
        assert isinstance(backend, KubernetesBackend)
        assert backend.namespace == "agents"
    finally:
        backends.resolve_auto.cache_clear()


def test_auto_picks_docker_when_it_answers_else_process(docker_service, monkeypatch, tmp_path):
    backends.resolve_auto.cache_clear()
    try:
        assert isinstance(get_backend("auto"), DockerBackend)
        backends.resolve_auto.cache_clear()
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
        assert isinstance(get_backend("auto"), ProcessBackend)
    finally:
        backends.resolve_auto.cache_clear()
