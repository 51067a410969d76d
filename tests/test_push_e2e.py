"""A config/skills push to a team on real services (Docker, Synapse, S3 on moto).

Every member's workspace gets the catalogue version's files of its skills and
the update signal, exactly one notice @mentions it in its own room (read back
from the homeserver), ``system/versions.json`` names what was pushed, and no
container is replaced.
"""

from __future__ import annotations

import json
import uuid

import pytest

from controller.agent.notices import NOTICE_KEY, parse_notice
from controller.models import Upgrade, Worker
from controller.policy import Principal
from controller.reconcilers import pushes
from controller.services import operations, skills_catalogue
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SKILLS = {"a": ["status-report", "handoff"], "b": ["handoff"], "lead": []}  # a leader's spec has no skills


def test_push_to_a_team_on_docker_synapse_and_s3(real_driver, synapse, docker_service):
    services, matrix, admin = real_driver.connections, real_driver.connections.matrix, synapse.admin
    team = f"p{uuid.uuid4().hex[:6]}"
    spec = {
        "leader": {"name": f"{team}-lead", "model": "qwen"},
        "workers": [{"name": f"{team}-{w}", "model": "qwen", "skills": SKILLS[w]} for w in ("a", "b")],
        "debug": {"enabled": False},
    }
    apply_text(to_yaml(manifest("Team", team, spec)))
    real_driver.converge(("Team", team))
    names = [f"{team}-{w}" for w in SKILLS]
    real_driver.converge(*[("Worker", name) for name in names], ("Team", team))

    def container_ids() -> dict[str, str]:
        found = docker_service.client.containers.list(filters={"label": f"hiclaw.io/team={team}"})
        return {c.labels["hiclaw.io/name"]: c.id for c in found}

    before = container_ids()
    assert sorted(before) == sorted(names)

    push = operations.request_push(Principal("admin", "root"), team=team)
    pushes.run(push.pk, services)
    push = Upgrade.objects.get(pk=push.pk)
    assert (push.state, push.progress()) == ("Done", (3, 3)), push.message
    version, catalogue = push.version, skills_catalogue.catalogue_files()

    storage = services.storage
    versions = json.loads(storage.get("system/versions.json"))
    assert versions["builtinSkillsVersion"] == version
    for w, skills in SKILLS.items():
        worker = Worker.objects.get(name=f"{team}-{w}")
        prefix = f"agents/{worker.name}/skills/"
        copied = {info.key[len(prefix) :]: storage.get(info.key) for info in storage.list(prefix)}
        assert copied == {path: data for path, data in catalogue.items() if path.split("/")[0] in skills}
        assert json.loads(storage.get(f"agents/{worker.name}/.skill-update-signal"))["version"] == version
        assert versions["perWorkerVersions"][worker.name]["skills"] == version
        notices = [
            event
            for event in matrix.messages(admin, worker.room_id)
            if event.get("type") == "m.room.message" and NOTICE_KEY in event.get("content", {})
        ]
        assert len(notices) == 1, notices
        content = notices[0]["content"]
        assert content[NOTICE_KEY] == {
            "kind": "skills-update",
            "id": f"push-{push.pk}",
            "targets": [worker.matrix_user_id],
            "version": version,
        }
        assert content["m.mentions"] == {"user_ids": [worker.matrix_user_id]}
        assert parse_notice(content) is not None  # what the agent reads: the marker starts the body

    # Carried out again (a re-delivered task re-running a target): still one notice per room.
    push.targets.update(state="pending")
    Upgrade.objects.filter(pk=push.pk).update(state="Running")
    pushes.run(push.pk, services)
    lead = Worker.objects.get(name=f"{team}-lead")
    events = [e for e in matrix.messages(admin, lead.room_id) if NOTICE_KEY in e.get("content", {})]
    assert len(events) == 1
    assert container_ids() == before  # nothing restarted
