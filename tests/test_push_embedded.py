"""A push to a running reference worker in embedded mode (process backend, file storage):
it downloads the pushed skills through its workspace sync and reports the new skills
version in a heartbeat, with no restart (the same process)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from controller import reconcilers
from controller.connections import default_connections
from controller.models import Heartbeat, Upgrade, Worker
from controller.policy import Principal
from controller.reconcilers import pushes
from controller.services import operations
from controller.services.apply import apply_text
from tests.helpers import wait_until
from tests.test_worker_embedded import live_controller  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

MANIFEST = """
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {name: ada}
spec: {model: qwen3.5-plus, skills: [status-report, handoff]}
"""


def pid() -> int:
    directory = settings.DATA_DIR / "instances" / "hiclaw-worker-ada"
    return json.loads((directory / "pid").read_text())["pid"]


def test_the_reference_worker_reports_a_pushed_version_without_restarting(live_controller):  # noqa: F811
    apply_text(MANIFEST)
    reconcilers.reconcile("Worker", "ada")
    wait_until(lambda: Worker.objects.get(name="ada").last_heartbeat, 30, "a first heartbeat")
    before = pid()

    push = operations.request_push(Principal("admin", "root"), worker="ada")
    pushes.run(push.pk, default_connections())
    version = Upgrade.objects.get(pk=push.pk).version
    wait_until(lambda: Worker.objects.get(name="ada").skills_version == version, 30, "the pushed skills version")

    assert Heartbeat.objects.filter(worker__name="ada", skills_version=version).exists()
    assert pid() == before
    workspace = settings.DATA_DIR / "workspaces" / "worker-ada"
    assert (workspace / "skills" / "handoff" / "SKILL.md").is_file()
    assert (workspace / "skills" / "status-report" / "scripts" / "status_report.py").is_file()
