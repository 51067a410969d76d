"""``/api/v1/upgrades``: who sees which upgrade, the filters, paging and the body's shape.

Upgrade rows are made directly (tests/upgrade_rows.py): pushes and rollouts themselves are
carried out, and tested, by their services; these tests are about showing the records."""

from __future__ import annotations

import pytest

from tests.upgrade_rows import advance, push, rollout

pytestmark = pytest.mark.django_db


@pytest.fixture
def upgrades(world):
    team_a = rollout("team-a", ["a-dev", "a-qa", "a-lead"], max_unavailable=2)
    team_b = push("team", "team-b", "team-b", ["b-dev", "b-lead"])
    solo = push("worker", "solo", "", ["solo"])
    everyone = push("all", "", "", ["a-dev", "b-dev", "solo"])
    return {"a": team_a.pk, "b": team_b.pk, "solo": solo.pk, "all": everyone.pk}


def ids(answer) -> list[int]:
    return [upgrade["id"] for upgrade in answer.json()["upgrades"]]


@pytest.mark.parametrize(
    ("persona", "seen"),
    [
        ("admin", ["all", "solo", "b", "a"]),
        ("manager", ["all", "solo", "b", "a"]),
        ("leader-a", ["a"]),
        ("leader-b", ["b"]),
        ("worker-a", ["all", "a"]),
        ("solo", ["all", "solo"]),
    ],
)
def test_each_caller_sees_its_own_upgrades_newest_first(as_persona, upgrades, persona, seen):
    answer = as_persona(persona).get("/api/v1/upgrades")
    assert answer.status_code == 200
    assert ids(answer) == [upgrades[key] for key in seen]
    assert answer.json()["total"] == len(seen)
    hidden = set(upgrades) - set(seen)
    for key in hidden:
        assert as_persona(persona).get(f"/api/v1/upgrades/{upgrades[key]}").status_code == 404
    for key in seen:
        assert as_persona(persona).get(f"/api/v1/upgrades/{upgrades[key]}").status_code == 200


def test_outside_the_callers_view_is_the_same_404_as_missing(as_persona, upgrades):
    outside = as_persona("leader-b").get(f"/api/v1/upgrades/{upgrades['a']}")
    missing = as_persona("leader-b").get("/api/v1/upgrades/999999")
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["message"] == f"upgrade/{upgrades['a']} not found"
    assert as_persona("anonymous").get("/api/v1/upgrades").status_code == 401
    assert as_persona("admin").get(f"/api/v1/upgrades/{2**70}").status_code == 404
    bad = as_persona("admin").get("/api/v1/upgrades/latest")
    assert bad.status_code == 400 and bad.json()["field"] == "id"


@pytest.mark.parametrize("action", ["pause", "resume", "abort"])
def test_a_rollout_action_on_an_id_that_is_no_number_is_answered_in_json(as_persona, action):
    bad = as_persona("admin").post(f"/api/v1/upgrades/null,null/{action}")
    assert bad.status_code == 400 and bad.json()["field"] == "id"
    assert as_persona("admin").post(f"/api/v1/upgrades/{2**70}/{action}").status_code == 404


def test_filters_by_kind_state_and_team(as_persona, upgrades):
    admin = as_persona("admin")
    advance(upgrades["a"], "a-dev", "running")
    assert ids(admin.get("/api/v1/upgrades?kind=rollout")) == [upgrades["a"]]
    assert ids(admin.get("/api/v1/upgrades?kind=push")) == [upgrades["all"], upgrades["solo"], upgrades["b"]]
    assert ids(admin.get("/api/v1/upgrades?state=Running")) == [upgrades["a"]]
    assert ids(admin.get("/api/v1/upgrades?team=team-b")) == [upgrades["b"]]
    assert ids(admin.get("/api/v1/upgrades?team=team-b&kind=rollout")) == []


@pytest.mark.parametrize(
    ("query", "field"), [("kind=upgrade", "kind"), ("state=running", "state"), ("limit=0", "limit")]
)
def test_bad_filters_are_refused_naming_the_field(as_persona, upgrades, query, field):
    answer = as_persona("admin").get(f"/api/v1/upgrades?{query}")
    assert answer.status_code == 400
    assert answer.json()["field"] == field


def test_pages_follow_one_another(as_persona, upgrades):
    first = as_persona("admin").get("/api/v1/upgrades?limit=3").json()
    assert len(first["upgrades"]) == 3 and first["total"] == 4
    assert "offset=3" in first["next"]
    rest = as_persona("admin").get(first["next"]).json()
    assert [u["id"] for u in rest["upgrades"]] == [upgrades["a"]] and rest["next"] is None


def test_body_has_progress_and_each_target(as_persona, upgrades):
    advance(upgrades["a"], "a-dev", "done")
    advance(upgrades["a"], "a-qa", "failed", "image pull failed: manifest unknown")
    body = as_persona("leader-a").get(f"/api/v1/upgrades/{upgrades['a']}").json()
    assert {key: body[key] for key in ("kind", "scope", "target", "team", "state", "image", "maxUnavailable")} == {
        "kind": "rollout",
        "scope": "team",
        "target": "team-a",
        "team": "team-a",
        "state": "Running",
        "image": "hiclaw/worker-agent:1.5.0",
        "maxUnavailable": 2,
    }
    assert body["progress"] == {"done": 1, "total": 3, "failed": 1}
    assert body["requestedBy"] == "admin root" and body["createdAt"] and body["startedAt"]
    assert body["finishedAt"] is None
    assert [(t["worker"], t["position"], t["state"]) for t in body["targets"]] == [
        ("a-dev", 0, "done"),
        ("a-qa", 1, "failed"),
        ("a-lead", 2, "pending"),
    ]
    failed = body["targets"][1]
    assert failed["message"] == "image pull failed: manifest unknown"
    assert failed["fromImage"] == "hiclaw/worker-agent:1.4.0" and failed["finishedAt"]
    assert set(failed) == {"worker", "position", "state", "message", "fromImage", "startedAt", "finishedAt"}


def test_the_list_costs_the_same_queries_whatever_the_number_of_upgrades(
    as_persona, upgrades, django_assert_max_num_queries
):
    client = as_persona("admin")
    client.get("/api/v1/upgrades")  # the token's first use writes its last-used time
    for _ in range(10):
        rollout("team-a", ["a-dev", "a-qa"])
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/v1/upgrades").json()["upgrades"]) == 14
