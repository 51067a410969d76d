"""The Helm chart (deploy/helm/hiclaw-controller), rendered by the real helm and checked by a real API server.

What an operator relies on: the chart lints, every object it renders is one the
API server accepts, the singletons stay single, the migration runs as a hook
before anything else changes, values reach the processes' environment while
secrets reach it only through the Secret, and the ServiceAccount may do what
templates/rbac.yaml lists and nothing more.
"""

from __future__ import annotations

import base64
import subprocess

import pytest
import yaml
from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException

from tests.services.kube import CHART, RELEASE, helm_template, kube_binary

pytestmark = pytest.mark.slow

EXTERNAL = str(CHART / "values-external.yaml")
VALUE_SETS = {"default": [], "external": ["-f", EXTERNAL]}
DEPLOYMENTS = ("web", "worker", "beat", "watch")


def helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([kube_binary("helm"), *args], capture_output=True, text=True)


def documents(rendered: str) -> list[dict]:
    return [document for document in yaml.safe_load_all(rendered) if document]


def install(kube, namespace: str, *args: str) -> list[dict]:
    """Render the chart and create every object it renders in ``namespace``, as the API server sees them."""
    rendered = documents(helm_template(namespace, *args))
    api = kube.api_client()
    for document in rendered:
        utils.create_from_dict(api, document, namespace=namespace)
    return rendered


def deployment(kube, namespace: str, component: str) -> client.V1Deployment:
    return client.AppsV1Api(kube.api_client()).read_namespaced_deployment(f"{RELEASE}-{component}", namespace)


def config_map(kube, namespace: str) -> dict[str, str]:
    return client.CoreV1Api(kube.api_client()).read_namespaced_config_map(RELEASE, namespace).data


def secret_values(kube, namespace: str, name: str = RELEASE) -> dict[str, str]:
    secret = client.CoreV1Api(kube.api_client()).read_namespaced_secret(name, namespace)
    return {key: base64.b64decode(value).decode() for key, value in secret.data.items()}


def pod_specs(kube, namespace: str) -> dict[str, client.V1PodSpec]:
    """The pod spec of each process, the migration Job's included, read back from the server."""
    specs = {component: deployment(kube, namespace, component).spec.template.spec for component in DEPLOYMENTS}
    job = client.BatchV1Api(kube.api_client()).read_namespaced_job(f"{RELEASE}-migrate", namespace)
    specs["migrate"] = job.spec.template.spec
    return specs


# --- helm lint -------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_passes_strict(values):
    for strict in ([], ["--strict"]):
        lint = helm("lint", str(CHART), *strict, *values)
        assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("worker.concurrency=0", "/worker/concurrency"),
        ("beat.replicas=2", "additional properties 'replicas' not allowed"),
        ("web.replicas=three", "/web/replicas"),
        ("database.url=mysql://db/hiclaw", "/database/url"),
        ("env.REDIS_URL=redis://r:6379/0", "env.REDIS_URL is a secret"),
    ],
)
def test_bad_values_are_refused_naming_the_field(setting, complaint):
    # `helm template` renders as install and upgrade do (helm lint only notes a template's `fail`).
    rendered = helm("template", RELEASE, str(CHART), "--set", setting)
    assert rendered.returncode != 0
    assert complaint in rendered.stderr


# --- what the API server accepts and keeps -------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_is_accepted_by_the_api_server(kube, kube_namespace, values):
    rendered = install(kube, kube_namespace, *values)
    kinds = {document["kind"] for document in rendered}
    assert {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "Service", "Deployment", "Job"} <= kinds
    if values:
        assert {"Ingress", "NetworkPolicy"} <= kinds
        ingress = client.NetworkingV1Api(kube.api_client()).read_namespaced_ingress(RELEASE, kube_namespace)
        assert ingress.spec.tls[0].hosts == ["hiclaw.example.com"]
        assert ingress.spec.rules[0].http.paths[0].backend.service.name == RELEASE

    for component in ("beat", "watch"):
        single = deployment(kube, kube_namespace, component)
        assert single.spec.replicas == 1 and single.spec.strategy.type == "Recreate"

    job = client.BatchV1Api(kube.api_client()).read_namespaced_job(f"{RELEASE}-migrate", kube_namespace)
    assert job.metadata.annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job.metadata.annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert job.spec.template.spec.containers[0].command == ["python", "manage.py", "migrate", "--noinput"]
    # The Job's configuration exists before it: the ConfigMap and Secret are hooks of a lower weight.
    core = client.CoreV1Api(kube.api_client())
    for config in (
        core.read_namespaced_config_map(RELEASE, kube_namespace),
        core.read_namespaced_secret(RELEASE, kube_namespace),
    ):
        assert "pre-install" in config.metadata.annotations["helm.sh/hook"]
        assert int(config.metadata.annotations["helm.sh/hook-weight"]) < int(
            job.metadata.annotations["helm.sh/hook-weight"]
        )


def test_web_serves_on_the_service_with_probes_on_healthz_and_readyz(kube, kube_namespace):
    install(kube, kube_namespace)
    web = deployment(kube, kube_namespace, "web").spec.template.spec.containers[0]
    assert web.command == ["python", "manage.py", "hiclaw_run", "--no-migrate", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104
    assert web.liveness_probe.http_get.path == "/healthz"
    assert web.readiness_probe.http_get.path == "/readyz"
    assert web.liveness_probe.http_get.port == "http" and web.ports[0].container_port == 8000
    # Django answers only the hosts it serves; the probes name one it always does.
    assert [(h.name, h.value) for h in web.readiness_probe.http_get.http_headers] == [("Host", "localhost")]
    assert "localhost" in config_map(kube, kube_namespace)["DJANGO_ALLOWED_HOSTS"].split(",")

    service = client.CoreV1Api(kube.api_client()).read_namespaced_service(RELEASE, kube_namespace)
    assert service.spec.type == "ClusterIP"
    assert [(p.port, p.target_port) for p in service.spec.ports] == [(80, "http")]
    assert service.spec.selector["app.kubernetes.io/component"] == "web"


def test_every_process_runs_locked_down_with_a_token_only_where_used(kube, kube_namespace):
    install(kube, kube_namespace)
    specs = pod_specs(kube, kube_namespace)
    tokens = {component: spec.automount_service_account_token for component, spec in specs.items()}
    # web: the dashboard's log tail reads pods/log; worker: reconciles; watch: watches pods.
    assert tokens == {"web": True, "worker": True, "beat": False, "watch": True, "migrate": False}
    for component, spec in specs.items():
        expected_account = None if component == "migrate" else RELEASE  # the Job runs before ours exists
        assert spec.service_account_name == expected_account, component
        assert spec.security_context.run_as_non_root and spec.security_context.run_as_user == 10001
        assert spec.security_context.seccomp_profile.type == "RuntimeDefault"
        container = spec.containers[0]
        assert container.security_context.read_only_root_filesystem, component
        assert container.security_context.allow_privilege_escalation is False
        assert container.security_context.capabilities.drop == ["ALL"]
        assert {m.mount_path for m in container.volume_mounts} == {"/var/lib/hiclaw", "/tmp"}  # noqa: S108


def test_every_pod_meets_the_restricted_pod_security_standard(kube, kube_namespace):
    core = client.CoreV1Api(kube.api_client())
    enforce = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    core.patch_namespace(kube_namespace, enforce)
    install(kube, kube_namespace)
    plain = client.V1PodSpec(containers=[client.V1Container(name="plain", image="busybox")])
    refused = _status(
        lambda: core.create_namespaced_pod(
            kube_namespace, client.V1Pod(metadata=client.V1ObjectMeta(name="plain"), spec=plain)
        )
    )
    assert refused == 403  # the namespace does enforce the standard
    for component, spec in pod_specs(kube, kube_namespace).items():
        pod = client.V1Pod(metadata=client.V1ObjectMeta(name=f"as-{component}"), spec=spec)
        assert _status(lambda pod=pod: core.create_namespaced_pod(kube_namespace, pod)) == 200, component


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_secrets_reach_pods_only_through_the_secret(kube, kube_namespace, values):
    install(kube, kube_namespace, *values)
    secrets = secret_values(kube, kube_namespace)
    assert {"DJANGO_SECRET_KEY", "HICLAW_ADMIN_PASSWORD", "HICLAW_METRICS_TOKEN"} <= secrets.keys()
    if values:
        assert secrets["DATABASE_URL"].startswith("postgres://hiclaw:change-me@")
        assert {
            "REDIS_URL",
            "HICLAW_STORAGE_URL",
            "HICLAW_GATEWAY_PASSWORD",
            "HICLAW_MATRIX_REGISTRATION_SECRET",
        } <= secrets.keys()
    plain = config_map(kube, kube_namespace)
    assert not secrets.keys() & plain.keys()
    for component, spec in pod_specs(kube, kube_namespace).items():
        container = spec.containers[0]
        sources = [
            (s.config_map_ref and s.config_map_ref.name, s.secret_ref and s.secret_ref.name) for s in container.env_from
        ]
        assert sources == [(RELEASE, None), (None, RELEASE)], component
        literals = [env.value or "" for env in container.env or []] + list(plain.values())
        for name, value in secrets.items():
            assert not any(value in literal for literal in literals), f"{name} appears in plain config of {component}"


def test_existing_secret_replaces_the_charts_own(kube, kube_namespace):
    rendered = install(kube, kube_namespace, "--set", "existingSecret=ops-hiclaw")
    assert "Secret" not in {document["kind"] for document in rendered}
    for component, spec in pod_specs(kube, kube_namespace).items():
        assert [s.secret_ref.name for s in spec.containers[0].env_from if s.secret_ref] == ["ops-hiclaw"], component


def test_values_reach_the_processes(kube, kube_namespace):
    install(
        kube,
        kube_namespace,
        *("--set", "web.replicas=3", "--set", "worker.replicas=5", "--set", "worker.concurrency=7"),
        *("--set-string", "database.url=postgres://app:pw-in-url@db.example:5432/hiclaw"),
        *("--set", "backend.watchCrds=true", "--set", "env.HICLAW_RESYNC_SECONDS=120"),
        *("--set", "ingress.enabled=true", "--set", "ingress.hosts[0].host=hiclaw.example.org"),
        *("--set", "web.podAnnotations.prometheus\\.io/scrape=true"),
    )
    web = deployment(kube, kube_namespace, "web")
    assert web.spec.replicas == 3
    assert web.spec.template.metadata.annotations["prometheus.io/scrape"] == "true"
    worker = deployment(kube, kube_namespace, "worker")
    assert worker.spec.replicas == 5
    command = worker.spec.template.spec.containers[0].command
    assert command[:6] == ["python", "-m", "celery", "-A", "hiclaw_site", "worker"]
    assert command[command.index("--concurrency") + 1] == "7"

    plain = config_map(kube, kube_namespace)
    assert plain["HICLAW_BACKEND"] == "kubernetes"
    assert plain["HICLAW_NAMESPACE"] == kube_namespace
    assert plain["HICLAW_CONTROLLER_URL"] == f"http://{RELEASE}.{kube_namespace}.svc"
    assert plain["HICLAW_WATCH_CRDS"] == "true" and plain["HICLAW_RESYNC_SECONDS"] == "120"
    hosts = plain["DJANGO_ALLOWED_HOSTS"].split(",")
    assert {"hiclaw.example.org", f"{RELEASE}.{kube_namespace}.svc"} <= set(hosts)
    assert secret_values(kube, kube_namespace)["DATABASE_URL"] == "postgres://app:pw-in-url@db.example:5432/hiclaw"
    assert not any("pw-in-url" in value for value in plain.values())


def _pod_annotations(*args: str) -> dict[str, dict[str, str]]:
    rendered = documents(helm_template("rolls", *args))
    return {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"]
        for d in rendered
        if d["kind"] == "Deployment"
    }


def test_a_config_or_secret_change_rolls_every_deployment():
    fixed = [f"--set=secrets.{key}=given-{key}" for key in ("djangoSecretKey", "adminPassword", "metricsToken")]
    before = _pod_annotations(*fixed)
    assert _pod_annotations(*fixed) == before  # same values, same pods
    config_changed = _pod_annotations(*fixed, "--set", "logLevel=DEBUG")
    secret_changed = _pod_annotations(*fixed, "--set", "redis.url=redis://other:6379/0")
    assert len(before) == len(DEPLOYMENTS)
    for name, checksums in before.items():
        assert config_changed[name]["checksum/config"] != checksums["checksum/config"]
        assert config_changed[name]["checksum/secret"] == checksums["checksum/secret"]
        assert secret_changed[name]["checksum/secret"] != checksums["checksum/secret"]


def test_generated_secrets_are_kept_across_upgrades(kube, kube_namespace):
    install(kube, kube_namespace)
    first = secret_values(kube, kube_namespace)
    # What `helm upgrade` renders: lookup reads the live Secret back.
    upgrade = helm_template(kube_namespace, "--dry-run=server", "--kubeconfig", str(kube.kubeconfig))
    (secret,) = [d for d in documents(upgrade) if d["kind"] == "Secret"]
    again = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    for key in ("DJANGO_SECRET_KEY", "HICLAW_ADMIN_PASSWORD", "HICLAW_METRICS_TOKEN"):
        assert again[key] == first[key], key
    fresh = documents(helm_template(kube_namespace))
    (unseen,) = [d for d in fresh if d["kind"] == "Secret"]
    assert base64.b64decode(unseen["data"]["DJANGO_SECRET_KEY"]).decode() != first["DJANGO_SECRET_KEY"]


# --- RBAC ------------------------------------------------------------------------------


def _rules_in_rbac_yaml() -> list[dict]:
    """The Role's rules as templates/rbac.yaml writes them (the lines between `rules:` and the RoleBinding)."""
    text = (CHART / "templates" / "rbac.yaml").read_text()
    block = text[text.index("rules:") : text.index("---")]
    return yaml.safe_load(block)["rules"]


def _as_dicts(rules) -> list[dict]:
    return [{"apiGroups": r.api_groups, "resources": r.resources, "verbs": r.verbs} for r in rules]


def test_the_role_holds_exactly_the_rules_of_rbac_yaml(kube, kube_namespace):
    kube.chart_service_account_token(kube_namespace)
    role = client.RbacAuthorizationV1Api(kube.api_client()).read_namespaced_role(RELEASE, kube_namespace)
    expected = _rules_in_rbac_yaml()
    assert expected and _as_dicts(role.rules) == expected
    binding = client.RbacAuthorizationV1Api(kube.api_client()).read_namespaced_role_binding(RELEASE, kube_namespace)
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [("ServiceAccount", RELEASE, kube_namespace)]


def _status(call) -> int:
    try:
        call()
    except ApiException as exc:
        return exc.status
    return 200


def test_the_service_account_is_denied_everything_outside_the_role(kube, kube_namespace):
    token = kube.chart_service_account_token(kube_namespace)
    api = kube.api_client(token=token)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    # Granted: what the Kubernetes backend does.
    assert _status(lambda: core.list_namespaced_pod(kube_namespace)) == 200
    assert _status(lambda: core.read_namespaced_secret("absent", kube_namespace)) == 404
    assert _status(lambda: core.list_namespaced_secret(kube_namespace)) == 200  # sleeping agents' Secrets
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="sneaky"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"a": "b"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"a": "b"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )
    denied = {
        "create a Deployment": lambda: apps.create_namespaced_deployment(kube_namespace, body),
        "list secrets cluster-wide": lambda: core.list_secret_for_all_namespaces(),
        "list secrets of another namespace": lambda: core.list_namespaced_secret("default"),
        "update a Service": lambda: core.replace_namespaced_service("any", kube_namespace, client.V1Service()),
        "list pods of another namespace": lambda: core.list_namespaced_pod("default"),
        "delete the namespace": lambda: core.delete_namespace(kube_namespace),
        "patch a pod": lambda: core.patch_namespaced_pod("any", kube_namespace, {"metadata": {"labels": {"x": "y"}}}),
        "read configmaps in bulk": lambda: core.list_namespaced_config_map(kube_namespace),
    }
    statuses = {what: _status(call) for what, call in denied.items()}
    assert statuses == dict.fromkeys(denied, 403)


def test_each_worker_pod_serves_its_own_metrics_on_a_port_no_service_exposes(kube, kube_namespace):
    """Celery worker pods share no filesystem with the web, so each serves its pool's counters
    itself (HICLAW_METRICS_PORT, behind the same bearer token); 0 turns that off."""
    rendered = install(kube, kube_namespace)
    worker = deployment(kube, kube_namespace, "worker").spec.template
    container = worker.spec.containers[0]
    env = {variable.name: variable.value for variable in container.env}
    assert env == {"HICLAW_METRICS_PORT": "9464", "PROMETHEUS_MULTIPROC_DIR": "/tmp/prometheus"}  # noqa: S108 (the pod's own emptyDir)
    assert [(port.name, port.container_port) for port in container.ports] == [("metrics", 9464)]
    assert worker.metadata.annotations["hiclaw.io/scrape"] == "true"
    service_ports = [port for d in rendered if d["kind"] == "Service" for port in d["spec"]["ports"]]
    assert 9464 not in {port.get("targetPort") for port in service_ports} | {port["port"] for port in service_ports}

    off = [d for d in documents(helm_template("off", "--set", "worker.metricsPort=0")) if d["kind"] == "Deployment"]
    container = next(d for d in off if d["metadata"]["name"].endswith("-worker"))["spec"]["template"]["spec"]
    assert "ports" not in container["containers"][0]
    assert {e["name"] for e in container["containers"][0]["env"]} == {"PROMETHEUS_MULTIPROC_DIR"}
