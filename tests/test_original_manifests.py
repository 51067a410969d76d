"""Manifests written for the original controller apply, with the same meaning.

docs/examples/original/ holds one manifest per kind setting every spec field
of the original ``hiclaw.io/v1beta1`` CRDs: each applies, keeps every field,
exports unchanged and applies back as a no-op. The design's own spellings
(``replicas: 1`` on a Manager, ``leader.permissions.workerIdleTimeout``,
``image: ""``) apply too; what the original never had is still refused.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from controller.manifests import ManifestInvalid, dump_yaml, parse, to_manifest
from controller.models import KINDS, Team, Worker
from tests.conftest import EXAMPLES

ORIGINAL = EXAMPLES / "original"
CHANNEL_POLICY = ["groupAllowExtra", "groupDenyExtra", "dmAllowExtra", "dmDenyExtra"]
ACCESS_ENTRIES = ["accessEntries[].service", "accessEntries[].scope"]
AGENT_TEXT = ["identity", "soul", "agents", "package"]
WORKER_FIELDS = [
    *["model", "runtime", "image", *AGENT_TEXT, "skills", "mcpServers", "expose[].port", "expose[].protocol"],
    *[f"channelPolicy.{key}" for key in CHANNEL_POLICY],
    *["state", "labels", *ACCESS_ENTRIES],
]
LEADER_FIELDS = [
    *["name", "model", "image", *AGENT_TEXT, "state", "labels", "workerIdleTimeout"],
    *[f"channelPolicy.{key}" for key in CHANNEL_POLICY],
    *ACCESS_ENTRIES,
    *["heartbeat.enabled", "heartbeat.every", "heartbeat.activeHours.start", "heartbeat.activeHours.end"],
    *[f"permissions.{key}" for key in ("canScaleWorkers", "maxWorkers", "canSwitchModel", "allowedModels")],
    "permissions.maxConcurrentTasks",
]
# The spec fields of the original CRDs, as dotted paths ("[]" steps into list items).
ORIGINAL_FIELDS = {
    "worker.yaml": WORKER_FIELDS,
    "team.yaml": [
        *["description", "admin.name", "admin.matrixUserId", "image", "peerMentions"],
        *[f"leader.{path}" for path in LEADER_FIELDS],
        *["workers[].name", *[f"workers[].{path}" for path in WORKER_FIELDS]],
        *[f"channelPolicy.{key}" for key in CHANNEL_POLICY],
        *["debug.enabled", "debug.accessControl.allowedUsers", "upgrade.maxUnavailable"],
    ],
    "human.yaml": ["displayName", "email", "permissionLevel", "accessibleTeams", "accessibleWorkers", "note"],
    "manager.yaml": [
        *["model", "runtime", "image", "soul", "agents", "skills", "mcpServers", "package", "state", "labels"],
        *[*ACCESS_ENTRIES, "replicas", "config.heartbeatInterval", "config.workerIdleTimeout"],
        "config.notifyChannel",
    ],
}


def original(name: str) -> str:
    return (ORIGINAL / name).read_text()


def paths(value: Any, prefix: str = "") -> set[str]:
    """Every dotted field path set in ``value``."""
    found = {prefix} if prefix else set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= paths(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for item in value:
            found |= paths(item, f"{prefix}[]") if isinstance(item, dict) else set()
    return found


def kept(given: Any, stored: Any) -> bool:
    """Whether everything ``given`` says is in ``stored`` unchanged (defaults may be added)."""
    if isinstance(given, dict):
        return isinstance(stored, dict) and all(key in stored and kept(v, stored[key]) for key, v in given.items())
    if isinstance(given, list):
        return isinstance(stored, list) and len(given) == len(stored) and all(map(kept, given, stored))
    return given == stored and type(given) is type(stored)


def refusal(apply, text: str):
    with pytest.raises(ManifestInvalid) as caught:
        apply(text)
    return caught.value.errors


def test_every_original_kind_has_a_manifest_setting_every_original_field():
    assert {doc.kind for name in ORIGINAL_FIELDS for doc in parse(original(name))} == set(KINDS) - {"DebugWorker"}
    for name, fields in ORIGINAL_FIELDS.items():
        missing = set(fields) - paths(parse(original(name))[0].spec)
        assert not missing, f"{name} does not set {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(ORIGINAL_FIELDS))
def test_original_manifest_applies_keeps_every_field_and_exports_unchanged(apply, name):
    given = yaml.safe_load(original(name))
    outcome = apply(original(name))[0]
    assert outcome.action == "created"
    resource = KINDS[outcome.kind].objects.get(name=outcome.name)
    assert kept(given["spec"], resource.spec)
    assert kept(given["metadata"].get("labels", {}), resource.labels)

    exported = dump_yaml([to_manifest(resource)])
    assert kept(given["spec"], yaml.safe_load(exported)["spec"])
    assert [o.action for o in apply(exported)] == ["unchanged"]
    resource.refresh_from_db()
    assert resource.generation == 1
    assert dump_yaml([to_manifest(resource)]) == exported


def test_original_team_fields_reach_its_members(apply):
    apply(original("team.yaml"))
    leader, clerk, inspector = (Worker.objects.get(name=n) for n in ("harbor-lead", "berth-clerk", "inspector"))
    assert leader.spec["labels"] == {"role": "coordinator"}
    assert leader.spec["channelPolicy"]["dmAllowExtra"] == ["@duty-officer:hiclaw.local"]
    assert leader.spec["accessEntries"] == [{"service": "object-storage", "scope": "teams/harbor-team/*"}]
    assert leader.image == "hiclaw/worker-agent:1.5.0"
    assert clerk.spec["accessEntries"] == [{"service": "object-storage", "scope": "agents/berth-clerk/*"}]
    assert (clerk.runtime, clerk.image) == ("copaw", "hiclaw/copaw-worker:1.4.0")
    # A member that sets neither inherits the team's image and channel policy.
    assert inspector.image == "hiclaw/worker-agent:1.4.0"
    assert inspector.spec["channelPolicy"]["groupAllowExtra"] == ["@harbour-master:hiclaw.local"]


# --- the design's own examples, in its spellings ---------------------------------------
MANAGER = "apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: default}\n"
SINGLE_MANAGER = MANAGER + "spec:\n  model: claude-opus-4\n  replicas: 1\n  config: {workerIdleTimeout: 360m}\n"
IDLE_IN_PERMISSIONS = """\
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: quay}
spec:
  leader:
    name: quay-lead
    model: qwen3.5-plus
    permissions:
      maxWorkers: 3
      workerIdleTimeout: 45m
  workers:
    - {name: quay-a, model: qwen3.5-plus}
"""
EMPTY_IMAGES = """\
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: dock}
spec:
  image: IMAGE
  leader: {name: dock-lead, model: qwen3.5-plus, image: ""}
  workers:
    - {name: dock-a, model: qwen3.5-plus, image: ""}
    - {name: dock-b, model: qwen3.5-plus, image: "hiclaw/worker-agent:2.0.0"}
"""


def test_a_manager_with_replicas_1_applies_and_exports_it(apply):
    assert [o.action for o in apply(SINGLE_MANAGER)] == ["created"]
    manager = KINDS["Manager"].objects.get(name="default")
    assert manager.spec["replicas"] == 1
    assert [o.action for o in apply(dump_yaml([to_manifest(manager)]))] == ["unchanged"]


@pytest.mark.parametrize("replicas", ["0", "2", "5"])
def test_any_other_replica_count_is_refused_because_the_manager_is_a_singleton(apply, replicas):
    [error] = refusal(apply, SINGLE_MANAGER.replace("replicas: 1", f"replicas: {replicas}"))
    assert (error.field, error.rule) == ("spec.replicas", "singleton")
    assert "the Manager is a singleton" in error.message and replicas in error.message
    assert not KINDS["Manager"].objects.exists()


def test_replicas_must_be_a_number(apply):
    [error] = refusal(apply, SINGLE_MANAGER.replace("replicas: 1", "replicas: 'one'"))
    assert (error.field, error.rule) == ("spec.replicas", "int_type")


def test_idle_timeout_under_permissions_is_the_leaders_idle_timeout(apply):
    apply(IDLE_IN_PERMISSIONS)
    leader = Team.objects.get(name="quay").spec["leader"]
    assert leader["workerIdleTimeout"] == "45m"
    assert leader["permissions"]["workerIdleTimeout"] == "45m"
    team = Team.objects.get(name="quay")
    assert [o.action for o in apply(dump_yaml([to_manifest(team)]))] == ["unchanged"]


def test_both_idle_timeouts_agreeing_apply(apply):
    agreeing = IDLE_IN_PERMISSIONS.replace("    permissions:", "    workerIdleTimeout: 45m\n    permissions:")
    assert [o.action for o in apply(agreeing)] == ["created"]


def test_both_idle_timeouts_differing_are_refused_naming_both_paths(apply):
    differing = IDLE_IN_PERMISSIONS.replace("    permissions:", "    workerIdleTimeout: 2h\n    permissions:")
    [error] = refusal(apply, differing)
    assert (error.field, error.rule) == ("spec.leader.workerIdleTimeout", "idle_timeout_conflict")
    assert "spec.leader.workerIdleTimeout (2h)" in error.message
    assert "spec.leader.permissions.workerIdleTimeout (45m)" in error.message
    assert not Team.objects.exists()


def test_an_idle_timeout_under_permissions_is_still_a_duration(apply):
    [error] = refusal(apply, IDLE_IN_PERMISSIONS.replace("workerIdleTimeout: 45m", "workerIdleTimeout: soon"))
    assert (error.field, error.rule) == ("spec.leader.permissions.workerIdleTimeout", "duration")


def test_an_empty_image_inherits_the_teams_image(apply):
    apply(EMPTY_IMAGES.replace("IMAGE", "hiclaw/worker-agent:1.4.0"))
    images = {w.name: w.image for w in Worker.objects.filter(team__name="dock")}
    assert images == {
        "dock-lead": "hiclaw/worker-agent:1.4.0",
        "dock-a": "hiclaw/worker-agent:1.4.0",
        "dock-b": "hiclaw/worker-agent:2.0.0",
    }
    # "" is the same as no image: the stored spec says nothing, so the export applies back unchanged.
    team = Team.objects.get(name="dock")
    assert "image" not in team.spec["leader"] and "image" not in team.spec["workers"][0]
    assert [o.action for o in apply(dump_yaml([to_manifest(team)]))] == ["unchanged"]


def test_empty_images_everywhere_mean_the_default_image(apply, embedded_driver, settings):
    apply(EMPTY_IMAGES.replace("IMAGE", '""'))
    assert {w.image for w in Worker.objects.filter(team__name="dock")} == {"", "hiclaw/worker-agent:2.0.0"}
    embedded_driver.converge(("Worker", "dock-a"))
    assert Worker.objects.get(name="dock-a").running_image == settings.HICLAW_WORKER_IMAGE


def test_a_standalone_worker_with_an_empty_image_gets_the_default(apply):
    apply("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w1}\nspec: {model: q, image: ''}\n")
    assert Worker.objects.get(name="w1").spec == {"model": "q", "runtime": "openclaw", "state": "Running"}


# --- strictness where it helps -----------------------------------------------------------
WORKER = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w1}\n"
TEAM = "apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {name: t1}\n"
STILL_REFUSED = [
    (TEAM + "spec: {leader: {name: lead, model: q, replicas: 1}}", "spec.leader.replicas", "unknown-field"),
    (WORKER + "spec: {model: q, accessEntries: [{service: s, scopes: x}]}", "spec.accessEntries[0].scopes", None),
    (WORKER + "spec: {model: q, accessEntries: [{scope: x}]}", "spec.accessEntries[0].service", "required"),
    (WORKER + "spec: {model: q, accessEntries: [{service: ' '}]}", "spec.accessEntries[0].service", "non_empty"),
    (WORKER + "spec: {model: q, replicas: 1}", "spec.replicas", "unknown-field"),
    (MANAGER + "spec: {model: q, expose: [{port: 80}]}", "spec.expose", "unknown-field"),
    (MANAGER + "spec: {model: q, labels: {'a b': c}}", "spec.labels", "label_key"),
    (WORKER + "spec: {model: q, image: ' '}", "spec.image", "image"),
]


@pytest.mark.parametrize(("text", "field", "rule"), STILL_REFUSED)
def test_fields_the_original_never_had_are_still_refused(apply, text, field, rule):
    [error] = refusal(apply, text)
    assert error.field == field
    assert error.rule == (rule or "unknown-field")


def test_an_unknown_leader_field_lists_the_allowed_ones_including_the_originals(apply):
    [error] = refusal(apply, TEAM + "spec: {leader: {name: lead, model: q, replica: 1}}")
    allowed = error.message.split("allowed: ")[1].split(", ")
    assert {"labels", "channelPolicy", "accessEntries", "workerIdleTimeout"} <= set(allowed)
