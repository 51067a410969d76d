"""Fields of the original CRDs do what they did, where this controller can do it (embedded services).

A team leader's ``labels`` label its instance and its ``channelPolicy`` shapes
its config, a Manager's ``labels`` label its instance, ``accessEntries`` reach
every agent's config, and ``leader.permissions.workerIdleTimeout`` is the
idle timeout the sweeper and the leader's team context use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from controller.models import Worker
from controller.reconcilers.sweeper import sweep
from controller.services.apply import apply_text
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.django_db
ORIGINAL = EXAMPLES / "original"


def instance_labels(driver, kind: str, name: str) -> dict[str, str]:
    [info] = [i for i in driver.connections.backend.list() if (i.kind, i.resource) == (kind, name)]
    return info.labels


def agent_config(driver, prefix: str, runtime: str = "openclaw") -> dict:
    return json.loads(driver.connections.storage.get(f"{prefix}/{runtime}.json"))


def test_the_leaders_labels_channel_policy_and_access_entries_are_honoured(embedded_driver, settings):
    settings.HICLAW_MATRIX_DOMAIN = "hiclaw.local"
    apply_text((ORIGINAL / "team.yaml").read_text())
    embedded_driver.converge(("Worker", "harbor-lead"), ("Worker", "berth-clerk"))

    labels = instance_labels(embedded_driver, "worker", "harbor-lead")
    assert labels["role"] == "coordinator"
    assert labels["hiclaw.io/team"] == "harbor-team"  # system labels stay the controller's

    config = agent_config(embedded_driver, "agents/harbor-lead")
    policy = config["channelPolicy"]
    assert "@duty-officer:hiclaw.local" in policy["dmAllow"]
    assert "@port-authority:hiclaw.local" in policy["groupAllow"]
    assert (policy["groupDeny"], policy["dmDeny"]) == (["@noisy-bot:hiclaw.local"], ["@spammer:hiclaw.local"])
    assert config["accessEntries"] == [{"service": "object-storage", "scope": "teams/harbor-team/*"}]

    clerk = agent_config(embedded_driver, "agents/berth-clerk", "copaw")
    assert clerk["accessEntries"] == [{"service": "object-storage", "scope": "agents/berth-clerk/*"}]
    assert instance_labels(embedded_driver, "worker", "berth-clerk")["desk"] == "bookings"


def test_the_managers_labels_and_access_entries_are_honoured(embedded_driver):
    apply_text((ORIGINAL / "manager.yaml").read_text())
    embedded_driver.converge(("Manager", "default"))
    assert instance_labels(embedded_driver, "manager", "default")["tier"] == "control"
    config = agent_config(embedded_driver, "managers/default", "copaw")
    assert [entry["service"] for entry in config["accessEntries"]] == ["object-storage", "ai-gateway"]
    assert config["manager"]["workerIdleTimeout"] == "240m"


def test_an_agent_without_access_entries_gets_an_empty_list(embedded_driver):
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: plain}\nspec: {model: q}\n")
    embedded_driver.converge(("Worker", "plain"))
    assert agent_config(embedded_driver, "agents/plain")["accessEntries"] == []


TEAM = """\
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: quay}
spec:
  leader:
    name: quay-lead
    model: q
    permissions: {workerIdleTimeout: 45m}
  workers: [{name: quay-a, model: q}]
  debug: {enabled: false}
"""


def test_the_idle_timeout_under_permissions_puts_idle_workers_to_sleep(embedded_driver):
    apply_text(TEAM)
    embedded_driver.converge(("Worker", "quay-lead"), ("Worker", "quay-a"), ("Team", "quay"))
    agents = embedded_driver.connections.storage.get("agents/quay-lead/AGENTS.md").decode()
    assert "Idle workers sleep after 45m" in agents

    start = datetime(2026, 11, 27, 10, tzinfo=UTC)
    Worker.objects.get(name="quay-a").record_heartbeat("idle", now=start)
    assert sweep(embedded_driver.connections, start + timedelta(minutes=44)).slept == []
    assert sweep(embedded_driver.connections, start + timedelta(minutes=46)).slept == ["quay-a"]
