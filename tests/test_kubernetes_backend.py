"""The Kubernetes backend against a real API server (tests/services/kube.py; kwok plays the node).

The backend runs with the token of the chart's ServiceAccount, so every call it makes is one the
chart's Role grants; what it made is read back as admin: the exact Pod, Secret and Service.
What a kubelet would report (a crash loop, an OOM kill) is written into the pod's status as
admin, as the kubelet would, since kwok runs no containers.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid

import pytest
from kubernetes import client

from controller.backends import (
    BackendError,
    BackendUnavailable,
    InstanceConflict,
    InstanceSpec,
    InstanceState,
    InvalidSpec,
)
from controller.backends.base import LABEL_CONTROLLER, LABEL_KIND, LABEL_NAME, LABEL_TEAM
from controller.backends.kube_api import api_errors
from controller.backends.kube_objects import POD_ANNOTATION, parse_template, pod_manifest
from controller.backends.kube_status import status_of
from controller.backends.kubernetes import KubernetesBackend
from controller.connections import default_connections
from controller.models import Worker
from controller.services import watchers
from controller.services.apply import apply_text
from tests.conftest import example
from tests.helpers import free_port, to_yaml, wait_until
from tests.services.world import Driver

IMAGE = "busybox:1.36"
TOKEN = "s3cr3t-agent-token"


@pytest.fixture
def admin(kube) -> client.CoreV1Api:
    return client.CoreV1Api(kube.api_client())


@pytest.fixture
def make_backend(kube, kube_namespace):
    """Backends of one controller in the test's namespace, with the chart ServiceAccount's token."""
    token = kube.chart_service_account_token(kube_namespace)
    controller_id = f"hiclaw-test-{uuid.uuid4().hex[:6]}"

    def make(**options) -> KubernetesBackend:
        options.setdefault("pod_template", "")
        return KubernetesBackend(
            controller_id,
            api_client=kube.api_client(token=token),
            namespace=kube_namespace,
            ready_timeout=60,
            stop_timeout=1,
            **options,
        )

    return make


def spec(**fields) -> InstanceSpec:
    resource = fields.pop("resource", f"r{uuid.uuid4().hex[:6]}")
    fields.setdefault("kind", "worker")
    fields.setdefault("image", IMAGE)
    return InstanceSpec(name=f"hiclaw-worker-{resource}", resource=resource, **fields)


def names(items) -> list[str]:
    return [item.metadata.name for item in items]


def secret_values(admin, namespace: str, name: str) -> dict[str, str]:
    data = admin.read_namespaced_secret(name, namespace).data or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


TEMPLATE = {
    "metadata": {
        "labels": {"app": "from-template", "cost-center": "agents", LABEL_CONTROLLER: "template"},
        "annotations": {"example.com/owner": "platform"},
    },
    "spec": {
        "nodeSelector": {"type": "kwok"},
        "tolerations": [{"key": "agents", "operator": "Exists", "effect": "NoSchedule"}],
        "serviceAccountName": "default",
        "priorityClassName": "",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
        "restartPolicy": "Never",  # the controller's choice wins
        "containers": [
            {
                "name": "ignored",
                "securityContext": {"allowPrivilegeEscalation": False},
                "resources": {"limits": {"cpu": "9"}},
            }
        ],
    },
}


def test_pod_secret_and_service_are_what_the_spec_and_template_say(make_backend, admin, kube_namespace, tmp_path):
    template = tmp_path / "pod-template.yaml"
    template.write_text(to_yaml({"apiVersion": "v1", "kind": "Pod", **TEMPLATE}))
    backend = make_backend(pod_template=str(template))
    agent = spec(
        team="blue",
        env={"HICLAW_MODEL": "qwen"},
        secret_env={"HICLAW_AGENT_TOKEN": TOKEN},
        labels={"app": "from-spec", "example.com/tier": "gold", LABEL_CONTROLLER: "spoofed"},
        cpu="250m",
        memory="64Mi",
        ports=(8080, 9090),
    )
    status = backend.create(agent)
    assert status.state == InstanceState.RUNNING

    pod = admin.read_namespaced_pod(agent.name, kube_namespace)
    assert status.ip == pod.status.pod_ip != ""
    labels = pod.metadata.labels
    # template < spec (metadata.labels under spec.labels) < system labels
    assert (labels["app"], labels["cost-center"], labels["example.com/tier"]) == ("from-spec", "agents", "gold")
    assert (labels[LABEL_CONTROLLER], labels[LABEL_KIND], labels[LABEL_NAME], labels[LABEL_TEAM]) == (
        backend.controller_id,
        "worker",
        agent.resource,
        "blue",
    )
    assert pod.metadata.annotations["example.com/owner"] == "platform"
    assert (pod.spec.restart_policy, pod.spec.automount_service_account_token, pod.spec.enable_service_links) == (
        "Always",
        False,
        False,
    )
    assert pod.spec.node_selector == {"type": "kwok"}
    assert pod.spec.tolerations[0].key == "agents"
    assert pod.spec.security_context.run_as_user == 1000
    container = pod.spec.containers[0]
    assert (container.name, container.image) == ("agent", IMAGE)
    assert container.security_context.allow_privilege_escalation is False
    assert container.resources.requests == {"cpu": "250m", "memory": "64Mi"}
    assert container.resources.limits == {"cpu": "250m", "memory": "64Mi"}  # the controller's over the template's

    # The token is in the Secret, referred to by key, never a value in the pod.
    env = {item.name: item for item in container.env}
    assert env["HICLAW_MODEL"].value == "qwen"
    assert env["HICLAW_AGENT_TOKEN"].value is None
    ref = env["HICLAW_AGENT_TOKEN"].value_from.secret_key_ref
    assert (ref.name, ref.key) == (agent.name, "HICLAW_AGENT_TOKEN")
    assert TOKEN not in json.dumps(admin.api_client.sanitize_for_serialization(pod))
    secret = admin.read_namespaced_secret(agent.name, kube_namespace)
    assert secret.metadata.labels == {k: v for k, v in labels.items() if k != "cost-center"}  # the template's not
    assert secret_values(admin, kube_namespace, agent.name) == {"HICLAW_AGENT_TOKEN": TOKEN}
    assert TOKEN not in secret.metadata.annotations[POD_ANNOTATION]

    service = admin.read_namespaced_service(agent.name, kube_namespace)
    assert service.spec.type == "ClusterIP"
    assert [(p.port, p.target_port) for p in service.spec.ports] == [(8080, 8080), (9090, 9090)]
    assert service.spec.selector == {k: v for k, v in labels.items() if k.startswith("hiclaw.io/")}


def test_resources_default_to_the_settings_and_the_template_can_be_a_configmap(
    make_backend, admin, kube_namespace, settings
):
    settings.HICLAW_POD_CPU, settings.HICLAW_POD_MEMORY = "125m", "96Mi"
    admin.create_namespaced_config_map(
        kube_namespace,
        {"metadata": {"name": "agent-pods"}, "data": {"pod-template.yaml": to_yaml(TEMPLATE)}},
    )
    backend = make_backend(pod_template="configmap:agent-pods")
    agent = spec()
    backend.create(agent)
    pod = admin.read_namespaced_pod(agent.name, kube_namespace)
    assert pod.spec.containers[0].resources.requests == {"cpu": "125m", "memory": "96Mi"}
    assert (pod.metadata.labels["cost-center"], pod.spec.node_selector) == ("agents", {"type": "kwok"})
    assert names(admin.list_namespaced_service(kube_namespace).items) == []  # no ports, no Service


@pytest.mark.parametrize(
    ("source", "content", "complaint"),
    [
        ("file", "spec: [unclosed", "invalid YAML"),
        ("file", "- a list", "no mapping"),
        ("file", "spec: {containers: 3}", "spec.containers"),
        ("file", "metadata: {labels: {app: 'not valid!'}}", "label 'app'"),
        ("missing-file", "", "cannot be read"),
        ("configmap", "", "no ConfigMap"),
    ],
)
def test_a_malformed_pod_template_is_a_permanent_error_naming_the_setting(
    make_backend, admin, kube_namespace, tmp_path, source, content, complaint
):
    path = tmp_path / "template.yaml"
    if source == "file":
        path.write_text(content)
    backend = make_backend(pod_template="configmap:absent" if source == "configmap" else str(path))
    with pytest.raises(BackendError, match=complaint) as error:
        backend.create(spec())
    assert "HICLAW_POD_TEMPLATE" in str(error.value) and not error.value.temporary
    assert names(admin.list_namespaced_secret(kube_namespace).items) == []  # nothing half-created


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"name": "hiclaw-worker-Ada"}, "name 'hiclaw-worker-Ada'"),
        ({"name": "hiclaw-worker-a.b"}, "name 'hiclaw-worker-a.b'"),
        ({"name": "hiclaw-worker-" + "x" * 60}, "at most 63"),
        ({"labels": {"tier": "gold medal"}}, "label 'tier'"),
        ({"labels": {"bad key!": "x"}}, "label 'bad key!'"),
        ({"team": "-blue"}, "label 'hiclaw.io/team'"),
    ],
)
def test_names_and_labels_kubernetes_refuses_are_invalid_before_anything_is_created(
    make_backend, admin, kube_namespace, fields, complaint
):
    name = fields.pop("name", None)
    agent = spec(**fields) if name is None else InstanceSpec(name=name, kind="worker", resource="ada", image=IMAGE)
    with pytest.raises(InvalidSpec, match=complaint):
        make_backend().create(agent)
    assert names(admin.list_namespaced_secret(kube_namespace).items) == []
    assert names(admin.list_namespaced_pod(kube_namespace).items) == []


def test_sleep_keeps_the_secret_and_service_and_delete_removes_all_three(make_backend, admin, kube_namespace):
    backend = make_backend()
    agent = spec(secret_env={"HICLAW_AGENT_TOKEN": TOKEN}, ports=(8080,))
    backend.create(agent)
    first_uid = admin.read_namespaced_pod(agent.name, kube_namespace).metadata.uid

    backend.stop(agent.name)
    assert names(admin.list_namespaced_pod(kube_namespace).items) == []
    assert names(admin.list_namespaced_secret(kube_namespace).items) == [agent.name]
    assert names(admin.list_namespaced_service(kube_namespace).items) == [agent.name]
    assert backend.status(agent.name).state == InstanceState.STOPPED
    assert [(i.name, i.state) for i in backend.list()] == [(agent.name, InstanceState.STOPPED)]

    backend.start(agent.name)
    pod = admin.read_namespaced_pod(agent.name, kube_namespace)
    assert pod.metadata.uid != first_uid and backend.status(agent.name).running
    assert pod.spec.containers[0].env[0].value_from.secret_key_ref.name == agent.name

    backend.delete(agent.name)
    for list_objects in (admin.list_namespaced_pod, admin.list_namespaced_secret, admin.list_namespaced_service):
        assert names(list_objects(kube_namespace).items) == []
    assert backend.status(agent.name).state == InstanceState.MISSING


def test_creating_again_writes_the_new_token_and_drops_the_service_of_gone_ports(make_backend, admin, kube_namespace):
    backend = make_backend()
    agent = spec(secret_env={"HICLAW_AGENT_TOKEN": "old-token"}, ports=(8080,))
    backend.create(agent)
    backend.stop(agent.name)
    renewed = spec(resource=agent.resource, secret_env={"HICLAW_AGENT_TOKEN": "new-token"})
    assert backend.create(renewed).running
    assert secret_values(admin, kube_namespace, agent.name) == {"HICLAW_AGENT_TOKEN": "new-token"}
    assert names(admin.list_namespaced_service(kube_namespace).items) == []


def test_a_crashing_or_killed_container_is_failed_with_its_reason(make_backend, admin, kube_namespace):
    backend = make_backend()
    agent = spec()
    backend.create(agent)

    def kubelet_reports(container: dict, phase: str = "Running", ready: str = "False") -> None:
        status = {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}
        status["containerStatuses"] = [{"name": "agent", "image": IMAGE, "imageID": "", "ready": False, **container}]
        admin.patch_namespaced_pod_status(agent.name, kube_namespace, {"status": status})

    crash = {"terminated": {"exitCode": 3, "reason": "Error"}}
    kubelet_reports({"restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": crash})
    status = backend.status(agent.name)
    assert (status.state, status.exit_code) == (InstanceState.FAILED, 3)
    assert "CrashLoopBackOff" in status.message and "exited with code 3" in status.message

    kubelet_reports({"restartCount": 5, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}})
    status = backend.status(agent.name)
    assert (status.state, status.exit_code, status.message) == (
        InstanceState.FAILED,
        137,
        "killed: out of memory (OOMKilled, exit code 137)",
    )
    assert [i.state for i in backend.list()] == [InstanceState.FAILED]

    # A pod that ended for good is replaced by start.
    kubelet_reports({"restartCount": 5, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}, "Succeeded")
    assert backend.status(agent.name).state == InstanceState.STOPPED
    backend.start(agent.name)
    assert backend.status(agent.name).running


def test_a_pod_refused_for_good_or_a_name_taken_leaves_nothing_behind(make_backend, admin, kube_namespace, tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(to_yaml({"spec": {"tolerations": [{"key": "agents", "operator": "Sometimes"}]}}))
    with pytest.raises(BackendError, match="Unsupported value") as error:
        make_backend(pod_template=str(template)).create(spec(ports=(8080,)))
    assert not error.value.temporary

    taken = spec()
    other = {"metadata": {"name": taken.name, "labels": {LABEL_CONTROLLER: "someone-else"}}}
    admin.create_namespaced_pod(kube_namespace, {**other, "spec": {"containers": [{"name": "x", "image": IMAGE}]}})
    with pytest.raises(InstanceConflict):
        make_backend().create(taken)
    assert names(admin.list_namespaced_secret(kube_namespace).items) == []
    assert names(admin.list_namespaced_service(kube_namespace).items) == []


def test_logs_and_exec_fail_clearly_when_no_kubelet_answers(make_backend):
    backend = make_backend()
    agent = spec()
    backend.create(agent)
    with pytest.raises(BackendError, match="no kubelet answered"):
        backend.logs(agent.name)
    with pytest.raises(BackendError, match="no kubelet answered"):
        backend.exec(agent.name, ["true"])
    backend.stop(agent.name)
    with pytest.raises(BackendError, match="not running"):
        backend.logs(agent.name)


def test_the_chart_service_account_may_do_nothing_beyond_its_role(kube, kube_namespace):
    api = kube.api_client(token=kube.chart_service_account_token(kube_namespace))
    with pytest.raises(client.ApiException) as denied:
        client.CoreV1Api(api).list_secret_for_all_namespaces()
    assert denied.value.status == 403
    deployment = {"metadata": {"name": "x"}, "spec": {"selector": {}, "template": {}}}
    with pytest.raises(client.ApiException) as denied:
        client.AppsV1Api(api).create_namespaced_deployment(kube_namespace, deployment)
    assert denied.value.status == 403

    # Where the Role is not bound, the backend says which verb on which resource it lacks.
    elsewhere = kube.make_namespace()
    try:
        backend = KubernetesBackend("hiclaw-test", api_client=api, namespace=elsewhere, pod_template="")
        with pytest.raises(BackendError, match="lacks the verb 'get' on 'pods'") as error:
            backend.create(spec())
        assert not error.value.temporary
    finally:
        kube.delete_namespace(elsewhere)


def test_a_missing_namespace_is_a_clear_permanent_error(kube):
    backend = KubernetesBackend("hiclaw-test", api_client=kube.api_client(), namespace="absent-ns", pod_template="")
    with pytest.raises(BackendError, match="namespace 'absent-ns' does not exist") as error:
        backend.create(spec())
    assert not error.value.temporary


def test_an_unreachable_api_server_is_a_temporary_error():
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{free_port()}"
    configuration.verify_ssl = False
    configuration.retries = 0
    backend = KubernetesBackend("hiclaw-test", api_client=client.ApiClient(configuration), namespace="x")
    with pytest.raises(BackendUnavailable, match="not answering"):
        backend.status("hiclaw-worker-anyone")
    with pytest.raises(BackendUnavailable):
        backend.list()
    with pytest.raises(BackendUnavailable):  # watchers.run_until_stopped starts it again after a backoff
        backend.watch(lambda info: None, threading.Event())


@pytest.mark.parametrize(
    ("status", "expected", "temporary"),
    [
        (429, "answered 429", True),
        (500, "answered 500", True),
        (503, "answered 503", True),
        (403, "forbidden: the server says 403", False),
        (401, "refused the controller's credentials", False),
        (422, "cannot create pods/x", False),
    ],
)
def test_api_answers_become_temporary_or_permanent_errors(status, expected, temporary):
    answer = client.ApiException(status=status, reason="Reason")
    answer.body = json.dumps({"kind": "Status", "message": f"the server says {status}"})
    with pytest.raises(BackendError, match=expected) as error, api_errors("create", "pods", "x", namespace="agents"):
        raise answer
    assert error.value.temporary is temporary
    assert f"the server says {status}" in str(error.value)  # the API server's own words


def test_a_kubeconfig_that_cannot_be_loaded_is_a_permanent_error_naming_the_setting(tmp_path):
    backend = KubernetesBackend("hiclaw-test", kubeconfig=str(tmp_path / "absent"), namespace="x")
    with pytest.raises(BackendError, match="HICLAW_KUBECONFIG") as error:
        backend.status("hiclaw-worker-anyone")
    assert not error.value.temporary


# --- the watch, and a team end to end -----------------------------------------------------
def test_the_watch_reports_every_instance_then_a_pod_deleted_out_of_band(make_backend, admin, kube_namespace):
    backend = make_backend()
    agent, asleep = spec(), spec()
    backend.create(agent)
    backend.create(asleep)
    backend.stop(asleep.name)
    seen: list = []
    stop = threading.Event()
    thread = threading.Thread(target=backend.watch, args=(seen.append, stop), daemon=True)
    thread.start()
    try:
        # First every instance once (the watch is listening from then on) ...
        wait_until(lambda: {i.name for i in seen} == {agent.name, asleep.name}, 30, "both instances reported")
        assert {(i.name, i.state) for i in seen} == {
            (agent.name, InstanceState.RUNNING),
            (asleep.name, InstanceState.STOPPED),
        }
        seen.clear()
        # ... then each change as it comes.
        admin.delete_namespaced_pod(agent.name, kube_namespace, grace_period_seconds=0)
        wait_until(lambda: (agent.name, InstanceState.MISSING) in {(i.name, i.state) for i in seen}, 30, "the deletion")
        assert {(i.kind, i.resource) for i in seen} == {("worker", agent.resource)}
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()  # a set stop is noticed within the watch's timeout


@pytest.mark.django_db(transaction=True)
def test_a_team_runs_as_pods_and_a_deleted_pod_comes_back(
    kube, kube_namespace, admin, settings, tmp_path, eager_celery
):
    settings.HICLAW_BACKEND = "kubernetes"
    settings.HICLAW_KUBECONFIG = kube.chart_kubeconfig(kube_namespace, tmp_path / "kubeconfig")
    settings.HICLAW_NAMESPACE = kube_namespace
    settings.HICLAW_POD_TEMPLATE = ""
    default_connections.cache_clear()
    driver = Driver(default_connections())
    apply_text(example("team-alpha.yaml"))
    members = sorted(Worker.objects.filter(team__name="alpha-team").values_list("name", flat=True))
    driver.converge(*[("Worker", name) for name in members], ("Team", "alpha-team"))

    def team_pods() -> dict[str, client.V1Pod]:
        found = admin.list_namespaced_pod(
            kube_namespace, label_selector="hiclaw.io/team=alpha-team,hiclaw.io/kind=worker"
        ).items
        return {pod.metadata.labels[LABEL_NAME]: pod for pod in found}

    pods = team_pods()
    assert sorted(pods) == members == ["alpha-dev", "alpha-docs", "alpha-lead", "alpha-qa"]
    assert {pod.status.phase for pod in pods.values()} == {"Running"}
    assert pods["alpha-docs"].spec.containers[0].image == "hiclaw/worker-agent:1.5.0-rc1"
    assert {w.name: w.phase for w in Worker.objects.filter(team__name="alpha-team")} == dict.fromkeys(
        members, "Running"
    )

    # The watch turns an out-of-band deletion into a reconcile, which starts the pod again.
    stop = threading.Event()
    threads = watchers.start(stop)
    try:
        old_uid = pods["alpha-dev"].metadata.uid
        admin.delete_namespaced_pod("hiclaw-worker-alpha-dev", kube_namespace, grace_period_seconds=0)
        wait_until(
            lambda: (
                (pod := team_pods().get("alpha-dev")) and pod.metadata.uid != old_uid and pod.status.phase == "Running"
            ),
            60,
            "alpha-dev's pod back and Running",
            interval=0.5,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert Worker.objects.get(name="alpha-dev").phase == "Running"


# --- the objects and status mapping on their own ---------------------------------------
def test_the_templates_extra_resources_stay_under_the_controllers_cpu_and_memory():
    template = {"spec": {"containers": [{"resources": {"limits": {"ephemeral-storage": "1Gi", "cpu": "9"}}}]}}
    pod = pod_manifest(spec(), {}, cpu="1", memory="1Gi", template=parse_template(to_yaml(template), "test"))
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"ephemeral-storage": "1Gi", "cpu": "1", "memory": "1Gi"}


def test_a_pod_no_node_can_take_says_why():
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes"}
    status = status_of({"status": {"phase": "Pending", "conditions": [unschedulable]}})
    assert (status.state, status.message) == (InstanceState.STOPPED, "starting (Unschedulable: 0/1 nodes)")
