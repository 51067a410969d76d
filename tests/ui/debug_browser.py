"""A DebugWorker to browse: ``a-debug`` debugs team-a, mounts a-dev's and a-qa's workspaces
(set directly, as its reconcile would record them) and names ``carol`` in allowedUsers.

carol is a login with no other role: only allowedUsers lets her in. alice (team-a's
admin) and bob are not named and must get nothing; root is an admin.
"""

from __future__ import annotations

import pytest

from controller.clients.storage import get_storage
from controller.models import DebugWorker
from controller.services import debug_targets
from controller.services.apply import apply_text

NAME = "a-debug"
MANIFEST = f"""
apiVersion: hiclaw.io/v1beta1
kind: DebugWorker
metadata: {{name: {NAME}}}
spec:
  target: {{type: team, name: team-a}}
  accessControl: {{allowedUsers: [carol]}}
"""
FILES = {
    "agents/a-dev/notes.md": b"# Notes\n\n<script>alert(1)</script> [x](javascript:alert(2))\n",
    "agents/a-dev/state.json": b'{"b": 1, "a": [1, 2]}',
    "agents/a-dev/blob.bin": bytes(range(256)),
    "agents/a-qa/log.txt": b"hello from a-qa\n",
    "agents/a-ops/secret.txt": b"a-ops is not mounted",
    f"debug/{NAME}/output/report.md": b"# Report\n",
    "debug/other-debug/output/report.md": b"another DebugWorker's report",
}


def mount(name: str, workers: list[str]) -> None:
    DebugWorker.objects.filter(name=name).update(
        phase="Running", mounted_workspaces=debug_targets.mounted_workspaces(workers)
    )


def allow(name: str, users: list[str]) -> None:
    """Set its allowedUsers (the spec field the policy reads)."""
    debugworker = DebugWorker.objects.get(name=name)
    debugworker.spec = {**debugworker.spec, "accessControl": {"allowedUsers": users}}
    debugworker.save(update_fields=["spec"])


@pytest.fixture
def debugworker(world) -> DebugWorker:
    apply_text(MANIFEST)
    mount(NAME, ["a-dev", "a-qa"])
    storage = get_storage()
    for key, data in FILES.items():
        storage.put(key, data)
    return DebugWorker.objects.get(name=NAME)
