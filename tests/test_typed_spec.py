"""``Resource.typed_spec``: the spec read through its kind's manifest shape, validated once per value."""

from __future__ import annotations

import pytest

from controller.manifests.schema import TeamSpec, WorkerSpec
from controller.models import Team, Worker


def test_a_worker_spec_is_read_as_its_shape_with_defaults_filled_in():
    worker = Worker(name="w", spec={"model": "qwen", "mcpServers": ["search"]})
    typed = worker.typed_spec
    assert isinstance(typed, WorkerSpec)
    assert (typed.model, typed.runtime, typed.state, typed.mcp_servers) == ("qwen", "openclaw", "Running", ["search"])


def test_the_shape_is_validated_once_while_the_spec_stays_the_same():
    worker = Worker(name="w", spec={"model": "qwen"})
    assert worker.typed_spec is worker.typed_spec


def test_a_replaced_spec_is_read_afresh():
    worker = Worker(name="w", spec={"model": "qwen"})
    before = worker.typed_spec
    worker.set_spec({"model": "claude"})
    assert worker.typed_spec is not before
    assert worker.typed_spec.model == "claude"


def test_a_spec_edited_in_place_is_read_afresh():
    team = Team(name="t", spec={"leader": {"name": "lead", "model": "qwen"}})
    assert isinstance(team.typed_spec, TeamSpec) and team.typed_spec.workers == []
    team.spec["workers"] = [{"name": "dev", "model": "qwen"}]
    assert [member.name for member in team.typed_spec.workers] == ["dev"]


def test_a_spec_its_shape_refuses_is_an_error_not_a_guess():
    worker = Worker(name="w", spec={"model": "qwen", "runtime": "docker"})
    with pytest.raises(ValueError, match="runtime"):
        _ = worker.typed_spec
