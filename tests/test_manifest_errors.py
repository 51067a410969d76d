"""Invalid manifests are refused with a message naming the field, and change nothing."""

from __future__ import annotations

import textwrap

import pytest

from controller.manifests import ManifestInvalid
from controller.models import KINDS, Team, Worker
from controller.services.apply import apply_text

WORKER = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w1}\n"
TEAM = "apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {name: t1}\n"

# (case id, manifest, field path named in the error, rule)
INVALID = [
    ("unknown spec field", WORKER + "spec: {model: q, modle: x}", "spec.modle", "unknown-field"),
    ("missing model", WORKER + "spec: {runtime: copaw}", "spec.model", "required"),
    ("empty model", WORKER + "spec: {model: '  '}", "spec.model", "non_empty"),
    ("bad runtime enum", WORKER + "spec: {model: q, runtime: docker}", "spec.runtime", "enum"),
    ("bad state enum", WORKER + "spec: {model: q, state: Paused}", "spec.state", "enum"),
    ("skills not a list", WORKER + "spec: {model: q, skills: git}", "spec.skills", "list_type"),
    ("skill not a string", WORKER + "spec: {model: q, skills: [1]}", "spec.skills[0]", "string_type"),
    ("port out of range", WORKER + "spec: {model: q, expose: [{port: 70000}]}", "spec.expose[0].port", "range"),
    ("port as string", WORKER + "spec: {model: q, expose: [{port: '80'}]}", "spec.expose[0].port", "int_type"),
    (
        "bad protocol",
        WORKER + "spec: {model: q, expose: [{port: 80, protocol: udp}]}",
        "spec.expose[0].protocol",
        "enum",
    ),
    (
        "unknown channel policy key",
        WORKER + "spec: {model: q, channelPolicy: {groupAllow: []}}",
        "spec.channelPolicy.groupAllow",
        "unknown-field",
    ),
    (
        "bad memory quantity",
        WORKER + "spec: {model: q, resources: {limits: {memory: lots}}}",
        "spec.resources.limits.memory",
        "quantity",
    ),
    (
        "bad name",
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: My_Worker}\nspec: {model: q}",
        "metadata.name",
        "dns_label",
    ),
    (
        "name too long",
        f"apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {{name: {'a' * 64}}}\nspec: {{model: q}}",
        "metadata.name",
        "dns_label",
    ),
    (
        "missing name",
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {}\nspec: {model: q}",
        "metadata.name",
        "required",
    ),
    (
        "wrong apiVersion",
        "apiVersion: hiclaw.io/v1\nkind: Worker\nmetadata: {name: w1}\nspec: {model: q}",
        "apiVersion",
        "enum",
    ),
    ("unknown kind", "apiVersion: hiclaw.io/v1beta1\nkind: Robot\nmetadata: {name: w1}\nspec: {}", "kind", "enum"),
    ("unknown top-level field", WORKER + "spec: {model: q}\nspecs: {}", "specs", "unknown-field"),
    ("missing spec", WORKER, "spec", "required"),
    (
        "label value invalid",
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w1, labels: {tier: 'a b'}}\nspec: {model: q}",
        "metadata.labels",
        "label_value",
    ),
    ("team without leader", TEAM + "spec: {workers: []}", "spec.leader", "required"),
    ("leader without model", TEAM + "spec: {leader: {name: lead}}", "spec.leader.model", "required"),
    (
        "duplicate member",
        TEAM + "spec: {leader: {name: lead, model: q}, workers: [{name: lead, model: q}]}",
        "spec.workers[0].name",
        "duplicate_member",
    ),
    (
        "bad heartbeat duration",
        TEAM + "spec: {leader: {name: lead, model: q, heartbeat: {every: soon}}}",
        "spec.leader.heartbeat.every",
        "duration",
    ),
    (
        "unquoted active hours",
        TEAM + "spec: {leader: {name: lead, model: q, heartbeat: {activeHours: {start: 09:00, end: 18:00}}}}",
        "spec.leader.heartbeat.activeHours.end",
        "clock",
    ),
    (
        "more workers than maxWorkers",
        TEAM + "spec: {leader: {name: lead, model: q, permissions: {maxWorkers: 1}},"
        " workers: [{name: a, model: q}, {name: b, model: q}]}",
        "spec.workers",
        "max_workers",
    ),
    (
        "model outside allowedModels",
        TEAM
        + "spec: {leader: {name: lead, model: q, permissions: {allowedModels: [q]}}, workers: [{name: a, model: gpt}]}",
        "spec.workers[0].model",
        "allowed_models",
    ),
    (
        "human bad permission level",
        "apiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: h}\nspec: {displayName: H, permissionLevel: 4}",
        "spec.permissionLevel",
        "enum",
    ),
    (
        "human bad email",
        "apiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: h}\nspec: {displayName: H, email: nope}",
        "spec.email",
        "email",
    ),
    (
        "manager bad idle timeout",
        "apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: m}\n"
        "spec: {model: q, config: {workerIdleTimeout: 12}}",
        "spec.config.workerIdleTimeout",
        "string_type",
    ),
    (
        "debugworker with target and targets",
        "apiVersion: hiclaw.io/v1beta1\nkind: DebugWorker\nmetadata: {name: d}\n"
        "spec: {target: {type: team, name: t}, targets: [a]}",
        "spec.target",
        "debug_target",
    ),
    (
        "debugworker bad target type",
        "apiVersion: hiclaw.io/v1beta1\nkind: DebugWorker\nmetadata: {name: d}\nspec: {target: {type: human, name: t}}",
        "spec.target.type",
        "enum",
    ),
    (
        "debugworker bad matrix user",
        "apiVersion: hiclaw.io/v1beta1\nkind: DebugWorker\nmetadata: {name: d}\n"
        "spec: {targets: [a], matrixCredential: {userID: alice}}",
        "spec.matrixCredential.userID",
        "matrix_user_id",
    ),
    ("not a mapping", "- just\n- a list\n", "(document)", "type"),
    ("yaml syntax", "apiVersion: [unclosed\n", "(yaml)", "yaml-syntax"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("manifest", "field", "rule"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_refused_naming_the_field(manifest, field, rule):
    with pytest.raises(ManifestInvalid) as refused:
        apply_text(manifest)
    errors = refused.value.errors
    assert (field, rule) in [(e.field, e.rule) for e in errors], [str(e) for e in errors]
    assert all(str(e).startswith("document 1") for e in errors)
    assert all(model.objects.count() == 0 for model in KINDS.values())


def test_there_are_at_least_fifteen_distinct_invalid_cases():
    assert len({(field, rule) for _, _, field, rule in INVALID}) >= 15


@pytest.mark.django_db
def test_one_bad_document_applies_nothing_and_all_errors_are_listed():
    stream = textwrap.dedent(
        """\
        apiVersion: hiclaw.io/v1beta1
        kind: Worker
        metadata: {name: good}
        spec: {model: q}
        ---
        apiVersion: hiclaw.io/v1beta1
        kind: Worker
        metadata: {name: bad}
        spec: {model: q, runtime: docker, color: red}
        ---
        apiVersion: hiclaw.io/v1beta1
        kind: Human
        metadata: {name: h}
        spec: {}
        """
    )
    with pytest.raises(ManifestInvalid) as refused:
        apply_text(stream)
    described = [str(e) for e in refused.value.errors]
    assert (
        "document 2 (worker/bad): spec.runtime: must be 'openclaw', 'copaw' or 'hermes' (got 'docker') [enum]"
        in described
    )
    assert any(d.startswith("document 2 (worker/bad): spec.color: unknown field 'color'; allowed: ") for d in described)
    assert "document 3 (human/h): spec.displayName: required field is missing [required]" in described
    assert not Worker.objects.exists()


@pytest.mark.django_db
def test_same_resource_twice_in_one_stream_is_refused():
    doc = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w1}\nspec: {model: q}\n"
    with pytest.raises(ManifestInvalid) as refused:
        apply_text(doc + "---\n" + doc)
    assert [(e.document, e.field, e.rule) for e in refused.value.errors] == [(2, "metadata.name", "duplicate")]


@pytest.mark.django_db
def test_empty_stream_is_refused():
    with pytest.raises(ManifestInvalid) as refused:
        apply_text("---\n")
    assert refused.value.errors[0].rule == "required"
    assert not Team.objects.exists()


@pytest.mark.django_db
def test_a_malformed_image_is_refused_everywhere_an_image_is_given():
    with pytest.raises(ManifestInvalid) as refused:
        apply_text(WORKER + "spec: {model: q, image: 'Not An Image!'}")
    assert [(e.field, e.rule) for e in refused.value.errors] == [("spec.image", "image")]
    with pytest.raises(ManifestInvalid) as refused:
        apply_text(TEAM + "spec: {image: 'team/Agent:1', leader: {name: l, model: q, image: 'ok/leader:1'}}")
    assert [(e.field, e.rule) for e in refused.value.errors] == [("spec.image", "image")]
