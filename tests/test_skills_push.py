"""Config/skills pushes in embedded mode (file storage, no Matrix): the catalogue's
versions, what a push writes for each target, one failing target among others,
and a push carried out again after a crash."""

from __future__ import annotations

import dataclasses
import json

import pytest
from celery.signals import worker_ready
from django.utils import timezone

from controller.connections import default_connections
from controller.models import Upgrade, Worker
from controller.models.upgrade import TargetState, UpgradeState
from controller.policy import Principal
from controller.reconcilers import pushes
from controller.services import operations, skills_catalogue
from controller.services.apply import apply_text
from controller.services.redaction import redact_text
from tests.helpers import manifest, to_yaml
from tests.services.world import Driver

pytestmark = pytest.mark.django_db

TEAM = "crew"
MEMBERS = [f"{TEAM}-a", f"{TEAM}-b", f"{TEAM}-lead"]
ADMIN = Principal("admin", "root")


class CountingStorage:
    """The real file storage, counting writes (what a second publish must not do)."""

    def __init__(self, storage):
        self.storage, self.puts = storage, []

    def put(self, key, data, content_type="application/octet-stream"):
        self.puts.append(key)
        self.storage.put(key, data, content_type)

    def __getattr__(self, name):
        return getattr(self.storage, name)


@pytest.fixture
def driver() -> Driver:
    return Driver(dataclasses.replace(default_connections()))


@pytest.fixture
def team(driver):
    spec = {
        "admin": {"name": "boss", "matrixUserId": "@boss:example.org"},
        "leader": {"name": f"{TEAM}-lead", "model": "qwen"},
        "workers": [
            {"name": f"{TEAM}-a", "model": "qwen", "skills": ["status-report", "handoff"]},
            {"name": f"{TEAM}-b", "model": "qwen", "skills": ["handoff"]},
        ],
    }
    apply_text(to_yaml(manifest("Team", TEAM, spec)))
    driver.reconcile("Team", TEAM)
    return TEAM


def test_the_catalogue_holds_the_worker_skills_but_not_the_debug_workers():
    names = skills_catalogue.skill_names(skills_catalogue.catalogue_files())
    assert {"status-report", "handoff"} <= names and "debug-analysis" not in names


def test_publishing_the_same_catalogue_twice_writes_nothing_and_a_change_is_a_new_version(tmp_path):
    storage = CountingStorage(default_connections().storage)
    files = skills_catalogue.catalogue_files()
    version, written = skills_catalogue.publish(storage, files)
    assert written and version.startswith("c-") and len(version) == 14
    assert redact_text(f"skills {version}") == f"skills {version}"  # a version never looks like a key
    assert storage.exists(f"system/skills/{version}/handoff/SKILL.md")
    assert json.loads(storage.get("system/versions.json"))["builtinSkillsVersion"] == version
    storage.puts.clear()
    assert skills_catalogue.publish(storage, files) == (version, False)
    assert storage.puts == []

    changed = {**files, "handoff/SKILL.md": files["handoff/SKILL.md"] + b"\nOne more line.\n"}
    new_version, written = skills_catalogue.publish(storage, changed)
    assert written and new_version != version
    assert storage.get(f"system/skills/{new_version}/handoff/SKILL.md").endswith(b"One more line.\n")
    assert storage.exists(f"system/skills/{version}/handoff/SKILL.md")  # the old version stays whole
    assert json.loads(storage.get("system/versions.json"))["builtinSkillsVersion"] == new_version


def test_a_push_copies_skills_config_and_signal_for_each_member(driver, team):
    push = operations.request_push(ADMIN, team=TEAM)
    pushes.run(push.pk, driver.connections)
    push.refresh_from_db()
    assert (push.state, push.progress()) == (UpgradeState.DONE, (3, 3)), push.message
    storage, version = driver.connections.storage, push.version
    catalogue = skills_catalogue.catalogue_files()
    for name, skills in ((f"{TEAM}-a", ["handoff", "status-report"]), (f"{TEAM}-b", ["handoff"]), (f"{TEAM}-lead", [])):
        copied = {info.key.split("/skills/", 1)[1] for info in storage.list(f"agents/{name}/skills/")}
        assert copied == {path for path in catalogue if path.split("/")[0] in skills}
        signal = json.loads(storage.get(f"agents/{name}/.skill-update-signal"))
        assert (signal["version"], signal["upgrade"]) == (version, push.pk)
        assert storage.exists(f"agents/{name}/openclaw.json") and storage.exists(f"agents/{name}/AGENTS.md")
        assert Worker.objects.get(name=name).pushed_skills_version == version
    versions = json.loads(storage.get("system/versions.json"))
    assert versions["builtinSkillsVersion"] == version and versions["workerConfigVersion"].startswith("g-")
    assert set(versions["perWorkerVersions"]) == set(MEMBERS)
    assert versions["perWorkerVersions"][f"{TEAM}-a"]["skills"] == version
    assert "no notice" in push.targets.get(worker=f"{TEAM}-a").message  # no Matrix here


def test_one_failing_target_does_not_stop_the_others(driver, team):
    push = operations.request_push(ADMIN, team=TEAM)
    # Removed between the request and the push: that target fails, the others go on.
    Worker.objects.filter(name=f"{TEAM}-b").update(deletion_requested_at=timezone.now())
    pushes.run(push.pk, driver.connections)
    push.refresh_from_db()
    assert push.state == UpgradeState.FAILED and push.message == "1 of 3 targets failed"
    states = dict(push.targets.values_list("worker", "state"))
    assert states == {f"{TEAM}-a": "done", f"{TEAM}-b": "failed", f"{TEAM}-lead": "done"}
    assert "no longer exists" in push.targets.get(worker=f"{TEAM}-b").message
    assert not driver.connections.storage.exists(f"agents/{TEAM}-b/.skill-update-signal")


def test_skills_the_catalogue_does_not_have_are_left_and_named(driver, team):
    # debug-analysis is the DebugWorker's skill, "git" an agent's own: neither is the push's.
    Worker.objects.filter(name=f"{TEAM}-b").update(
        spec={"model": "qwen", "skills": ["handoff", "debug-analysis", "git"]}
    )
    push = operations.request_push(ADMIN, team=TEAM)
    pushes.run(push.pk, driver.connections)
    target = Upgrade.objects.get(pk=push.pk).targets.get(worker=f"{TEAM}-b")
    assert target.state == "done" and "left as they are: debug-analysis, git" in target.message
    storage = driver.connections.storage
    assert storage.exists(f"agents/{TEAM}-b/skills/handoff/SKILL.md")
    assert not storage.exists(f"agents/{TEAM}-b/skills/debug-analysis/SKILL.md")


def test_a_redelivered_push_skips_done_targets_and_runs_the_rest(driver, team):
    push = operations.request_push(ADMIN, team=TEAM)
    # As if a worker crashed mid-push: the first target done, the second one running.
    push.state = UpgradeState.RUNNING
    push.save()
    push.targets.filter(worker=f"{TEAM}-a").update(state=TargetState.DONE, message="earlier")
    push.targets.filter(worker=f"{TEAM}-b").update(state=TargetState.RUNNING)
    pushes.run(push.pk, driver.connections)
    push.refresh_from_db()
    assert push.state == UpgradeState.DONE
    assert push.targets.get(worker=f"{TEAM}-a").message == "earlier"  # not done again
    assert not driver.connections.storage.exists(f"agents/{TEAM}-a/.skill-update-signal")
    assert driver.connections.storage.exists(f"agents/{TEAM}-b/.skill-update-signal")
    finished = push.finished_at
    pushes.run(push.pk, driver.connections)  # a finished push is left alone
    push.refresh_from_db()
    assert push.finished_at == finished


def test_requesting_a_push_queues_it_after_commit(team, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        push = operations.request_push(ADMIN, worker=f"{TEAM}-a")
        assert Upgrade.objects.get(pk=push.pk).state == UpgradeState.PENDING  # not before the commit
    assert Upgrade.objects.get(pk=push.pk).state == UpgradeState.DONE


def test_a_worker_start_publishes_the_catalogue_and_resumes_unfinished_pushes(team, eager_celery):
    left = operations.request_push(ADMIN, worker=f"{TEAM}-a")  # its queuing lost (never committed here)
    finished = operations.request_push(ADMIN, worker=f"{TEAM}-b")
    Upgrade.objects.filter(pk=finished.pk).update(state=UpgradeState.ABORTED)
    worker_ready.send(sender=None)
    storage = default_connections().storage
    assert json.loads(storage.get("system/versions.json"))["builtinSkillsVersion"].startswith("c-")
    assert Upgrade.objects.get(pk=left.pk).state == UpgradeState.DONE
    assert Upgrade.objects.get(pk=finished.pk).state == UpgradeState.ABORTED


def test_a_push_removes_files_a_skill_no_longer_has_and_rewrites_the_config(driver, team):
    storage = driver.connections.storage
    storage.put(f"agents/{TEAM}-a/skills/handoff/old_script.py", b"print('gone')")
    storage.put(f"agents/{TEAM}-a/SOUL.md", b"edited by hand")
    storage.put(f"agents/{TEAM}-a/skills/my-own/SKILL.md", b"a skill not from the catalogue")
    push = operations.request_push(ADMIN, worker=f"{TEAM}-a")
    pushes.run(push.pk, driver.connections)
    assert not storage.exists(f"agents/{TEAM}-a/skills/handoff/old_script.py")
    assert storage.exists(f"agents/{TEAM}-a/skills/handoff/scripts/handoff.py")
    assert storage.get(f"agents/{TEAM}-a/SOUL.md") == f"# {TEAM}-a\n".encode()  # regenerated
    assert storage.exists(f"agents/{TEAM}-a/skills/my-own/SKILL.md")  # other skills are left alone


def test_an_unexpected_fault_fails_its_target_alone(driver, team, monkeypatch):
    real = pushes._copy_skill

    def broken(connections, version, skill, destination):
        if f"/{TEAM}-a/" in destination:
            raise RuntimeError("secret-looking detail")
        real(connections, version, skill, destination)

    monkeypatch.setattr(pushes, "_copy_skill", broken)
    push = operations.request_push(ADMIN, team=TEAM)
    pushes.run(push.pk, driver.connections)
    target = Upgrade.objects.get(pk=push.pk).targets.get(worker=f"{TEAM}-a")
    assert (target.state, target.message) == ("failed", "RuntimeError: see the controller's log")
    assert Upgrade.objects.get(pk=push.pk).message == "1 of 3 targets failed"


def test_a_paused_or_aborted_push_takes_no_more_targets(driver, team, monkeypatch):
    push = operations.request_push(ADMIN, team=TEAM)
    Upgrade.objects.filter(pk=push.pk).update(state=UpgradeState.PAUSED)
    pushes.run(push.pk, driver.connections)
    assert set(push.targets.values_list("state", flat=True)) == {"pending"}

    Upgrade.objects.filter(pk=push.pk).update(state=UpgradeState.PENDING)
    real = pushes.push_to_worker

    def abort_after_the_first(connections, upgrade, name):
        Upgrade.objects.filter(pk=upgrade.pk).update(state=UpgradeState.ABORTED)
        return real(connections, upgrade, name)

    monkeypatch.setattr(pushes, "push_to_worker", abort_after_the_first)
    pushes.run(push.pk, driver.connections)
    assert list(push.targets.values_list("state", flat=True)) == ["done", "pending", "pending"]
    assert Upgrade.objects.get(pk=push.pk).state == UpgradeState.ABORTED
