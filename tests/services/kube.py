"""Session fixture that runs a real Kubernetes control plane on loopback: etcd, kube-apiserver,
kube-scheduler and kwok (a simulated node, so scheduled pods reach Running with an IP).

The same script users run (`make kube-up`, scripts/kube.sh) builds the binaries once per
machine into ~/.cache/hiclaw-k8s and starts them; nothing here imitates the API server.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
KUBE_SCRIPT = ROOT / "scripts" / "kube.sh"
CHART = ROOT / "deploy" / "helm" / "hiclaw-controller"
RELEASE = "hiclaw-controller"  # the chart names its objects after the release: "hiclaw-controller"


def kube_binary(name: str) -> str:
    """The path of a binary scripts/kube.sh built (helm, kube-apiserver, ...)."""
    found = subprocess.run(["bash", str(KUBE_SCRIPT), "bin", name], capture_output=True, text=True, check=True)
    return found.stdout.strip()


def helm_template(namespace: str, *args: str) -> str:
    """The chart rendered by the real helm for release ``hiclaw-controller`` in ``namespace``."""
    rendered = subprocess.run(
        [kube_binary("helm"), "template", RELEASE, str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
    )
    if rendered.returncode != 0:
        pytest.fail(f"helm template failed:\n{rendered.stderr}")
    return rendered.stdout


@dataclass(frozen=True)
class KubeCluster:
    """A running control plane: its kubeconfig (admin, system:masters) and where it answers."""

    directory: Path
    kubeconfig: Path
    admin_token: str
    server: str

    def api_client(self, token: str | None = None):
        """A kubernetes ApiClient as admin, or as the bearer of ``token`` (a ServiceAccount's)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        if token is not None:
            # The kubeconfig loader installs a hook that puts the admin token back before each call.
            configuration.refresh_api_key_hook = None
            configuration.api_key = {"authorization": f"Bearer {token}"}
        return client.ApiClient(configuration)

    def make_namespace(self, prefix: str = "t") -> str:
        """A fresh namespace with its "default" ServiceAccount (no controller-manager makes it here)."""
        from kubernetes import client

        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        core = client.CoreV1Api(self.api_client())
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        core.create_namespaced_service_account(
            name, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        )
        return name

    def chart_service_account_token(self, namespace: str) -> str:
        """Install the chart's ServiceAccount, Role and RoleBinding in ``namespace`` and return a
        token of that ServiceAccount: a client using it may do exactly what the chart grants."""
        import yaml
        from kubernetes import client, utils

        rendered = helm_template(
            namespace, "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"
        )
        api = self.api_client()
        for document in yaml.safe_load_all(rendered):
            if document:
                utils.create_from_dict(api, document, namespace=namespace)
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        )
        answer = client.CoreV1Api(api).create_namespaced_service_account_token(RELEASE, namespace, request)
        return answer.status.token

    def chart_kubeconfig(self, namespace: str, path: Path) -> str:
        """A kubeconfig for this cluster whose user is the chart's ServiceAccount in ``namespace``
        (installed by ``chart_service_account_token``): what the controller's pods hold."""
        import yaml

        config = yaml.safe_load(self.kubeconfig.read_text())
        config["users"] = [{"name": RELEASE, "user": {"token": self.chart_service_account_token(namespace)}}]
        for context in config["contexts"]:
            context["context"].update(user=RELEASE, namespace=namespace)
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return str(path)

    def delete_namespace(self, name: str) -> None:
        """Delete what the namespace holds, then the namespace (no namespace controller runs here
        to empty it, so the namespace itself would stay Terminating: that is fine for tests)."""
        from kubernetes import client

        api = self.api_client()
        core = client.CoreV1Api(api)
        core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        core.delete_namespace(name)


@pytest.fixture(scope="session")
def kube(tmp_path_factory) -> Iterator[KubeCluster]:
    """Start the control plane once per test session (building it first on a new machine)."""
    directory = tmp_path_factory.mktemp("kube")
    env = {
        "KUBE_API_PORT": str(free_port()),
        "KUBE_ETCD_PORT": str(free_port()),
        "KUBE_ETCD_PEER_PORT": str(free_port()),
    }
    started = subprocess.run(
        ["bash", str(KUBE_SCRIPT), "up", str(directory)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if started.returncode != 0:
        pytest.fail(f"scripts/kube.sh up failed ({started.returncode}):\n{started.stderr[-3000:]}")
    cluster = KubeCluster(
        directory=directory,
        kubeconfig=directory / "kubeconfig",
        admin_token=(directory / "admin-token").read_text().strip(),
        server=f"https://127.0.0.1:{env['KUBE_API_PORT']}",
    )
    try:
        yield cluster
    finally:
        subprocess.run(["bash", str(KUBE_SCRIPT), "down", str(directory)], capture_output=True, timeout=60)


@pytest.fixture
def kube_namespace(kube: KubeCluster) -> Iterator[str]:
    """A namespace of this test's own, emptied afterwards."""
    name = kube.make_namespace()
    try:
        yield name
    finally:
        kube.delete_namespace(name)


def wait_for_pod_phase(core, namespace: str, name: str, phase: str, timeout: float = 30.0) -> None:
    """Wait until the named pod reports ``phase`` (kwok moves a scheduled pod to Running in about a second)."""
    wait_until(
        lambda: core.read_namespaced_pod(name, namespace).status.phase == phase,
        timeout,
        f"pod {namespace}/{name} to be {phase}",
    )
