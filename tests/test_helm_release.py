"""A release's life with the real helm against a real API server: install, upgrade, a failed
migration, rollback.

The test cluster runs no controller-manager, so no Job ever finishes on its own;
the test plays the Job controller for the migration hook, marking it Complete or
Failed as the migration would, which is all helm waits for.
"""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime

import pytest
from kubernetes import client

from tests.helpers import wait_until
from tests.services.kube import CHART, RELEASE, kube_binary

pytestmark = pytest.mark.slow

JOB = f"{RELEASE}-migrate"


def _finish_job(batch: client.BatchV1Api, namespace: str, outcome: str) -> None:
    """Write the status the Job controller would after the migration pod ended."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if outcome == "Complete":
        counts = {"succeeded": 1, "completionTime": now}
        conditions = [("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
    else:
        counts = {"failed": 1}
        conditions = [("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
    status = {
        "startTime": now,
        **counts,
        "conditions": [
            {"type": kind, "status": "True", "reason": reason, "message": "migrate", "lastTransitionTime": now}
            for kind, reason in conditions
        ],
    }
    batch.patch_namespaced_job_status(JOB, namespace, {"status": status})


def helm_release(kube, namespace: str, migration: str | None, *args: str) -> subprocess.CompletedProcess:
    """Run a helm release command; when it creates the migration Job, end that Job with ``migration``."""
    command = [kube_binary("helm"), *args, "--namespace", namespace, "--kubeconfig", str(kube.kubeconfig)]
    process = subprocess.Popen(
        [*command, "--timeout", "90s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        if migration:
            batch = client.BatchV1Api(kube.api_client())

            def job_created() -> bool:
                names = [job.metadata.name for job in batch.list_namespaced_job(namespace).items]
                return JOB in names and not (batch.read_namespaced_job(JOB, namespace).status.conditions or [])

            def helm_running() -> None:
                if process.poll() is not None:
                    pytest.fail(f"helm ended before its migration Job ran:\n{process.stderr.read()}")

            wait_until(job_created, 60, "the migration Job", interval=0.2, check=helm_running)
            _finish_job(batch, namespace, migration)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _state(kube, namespace: str) -> dict:
    core, apps = client.CoreV1Api(kube.api_client()), client.AppsV1Api(kube.api_client())
    web = apps.read_namespaced_deployment(f"{RELEASE}-web", namespace)
    secret = core.read_namespaced_secret(RELEASE, namespace).data
    return {
        "web replicas": web.spec.replicas,
        "config checksum": web.spec.template.metadata.annotations["checksum/config"],
        "log level": core.read_namespaced_config_map(RELEASE, namespace).data["HICLAW_LOG_LEVEL"],
        "secret key": base64.b64decode(secret["DJANGO_SECRET_KEY"]).decode(),
        "jobs": [
            job.metadata.name for job in client.BatchV1Api(kube.api_client()).list_namespaced_job(namespace).items
        ],
    }


def test_install_upgrade_and_rollback_keep_the_secret_and_roll_the_config(kube, kube_namespace):
    installed = helm_release(kube, kube_namespace, "Complete", "install", RELEASE, str(CHART))
    assert installed.returncode == 0, installed.stderr
    first = _state(kube, kube_namespace)
    assert first["jobs"] == []  # hook-succeeded: a finished migration Job is removed
    assert first["web replicas"] == 2 and first["log level"] == "INFO"

    upgrade = ("upgrade", RELEASE, str(CHART), "--set", "logLevel=DEBUG", "--set", "web.replicas=3")
    upgraded = helm_release(kube, kube_namespace, "Complete", *upgrade)
    assert upgraded.returncode == 0, upgraded.stderr
    second = _state(kube, kube_namespace)
    assert second["secret key"] == first["secret key"]  # generated once, read back on upgrade
    assert second["log level"] == "DEBUG" and second["web replicas"] == 3
    assert second["config checksum"] != first["config checksum"]  # the pods roll

    # A rollback runs no migration (the schema stays where the newer version left it) and
    # restores the older revision's configuration along with its Deployments.
    rolled = helm_release(kube, kube_namespace, None, "rollback", RELEASE, "1")
    assert rolled.returncode == 0, rolled.stderr
    third = _state(kube, kube_namespace)
    assert third == {**first, "jobs": []}


def test_a_failed_migration_stops_the_upgrade_before_any_deployment_changes(kube, kube_namespace):
    installed = helm_release(kube, kube_namespace, "Complete", "install", RELEASE, str(CHART))
    assert installed.returncode == 0, installed.stderr
    before = _state(kube, kube_namespace)

    failed = helm_release(kube, kube_namespace, "Failed", "upgrade", RELEASE, str(CHART), "--set", "web.replicas=4")
    assert failed.returncode != 0
    assert "pre-upgrade hooks failed" in failed.stderr and JOB in failed.stderr
    after = _state(kube, kube_namespace)
    assert after["web replicas"] == before["web replicas"] == 2
    assert after["secret key"] == before["secret key"]
    assert after["jobs"] == [JOB]  # kept, with its pod's logs, for the operator to read
