"""One agent floods its heartbeats: its history stays within the cap, it is answered 429 with
Retry-After, and the other agents posting in the same burst are untouched — on the Redis fast
path (the real Redis, a database of this module's own) and on the embedded path (the API view,
counted in this process).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from controller.agent.reference_worker import ReferenceWorker, retry_after
from controller.ingest import HeartbeatIngest
from controller.models import AgentToken, Heartbeat, Worker
from controller.services import heartbeat_rate
from controller.services.apply import apply_text
from controller.services.heartbeats import buffer_key, flush_buffer
from tests.helpers import asgi_post, empty_redis

pytestmark = pytest.mark.django_db
REDIS_URL = "redis://127.0.0.1:6379/8"
CAP, LIMIT, FLOOD, EVERY = 40, 600, 2000, 100  # history cap, rate, flood size, calm agents' and checks' pace
CALM = ("calm-a", "calm-b")

# A post: (token, body) -> (status, headers, body as JSON); a flush applies what a post left buffered.
Post = Callable[[str, dict], tuple[int, dict[str, str], dict]]


@dataclass
class Burst:
    flood: list[tuple[int, dict[str, str], dict]] = field(default_factory=list)
    calm: dict[str, list[int]] = field(default_factory=lambda: {name: [] for name in CALM})
    largest_history: int = 0  # the flooder's history rows, the most seen at any check


def flood_report(i: int) -> dict:
    """The flooder's i-th report: busy with a note of its own (so the sampling keeps every one
    and only the cap bounds the history); the last it may post within the rate turns idle."""
    if i == LIMIT - 1:
        return {"state": "idle", "activeTasks": 0, "note": f"report {i}"}
    return {"state": "busy", "activeTasks": i % 5 + 1, "note": f"report {i}"}


def calm_report(n: int) -> dict:
    return {"state": ("busy", "idle")[n % 2], "activeTasks": (1, 0)[n % 2]}


def burst(post: Post, tokens: dict[str, str], flush: Callable[[], object], check_every: int) -> Burst:
    """FLOOD reports from "flood"; each calm agent reports once every EVERY of them. After every
    ``check_every`` posts the buffer is flushed and the flooder's history counted."""
    seen = Burst()
    for i in range(FLOOD):
        seen.flood.append(post(tokens["flood"], flood_report(i)))
        if i % EVERY == 0:
            for name in CALM:
                seen.calm[name].append(post(tokens[name], calm_report(len(seen.calm[name])))[0])
        if i % check_every == 0 or i == FLOOD - 1:
            flush()
            rows = Heartbeat.objects.filter(worker__name="flood").count()
            assert rows <= CAP, f"{rows} rows after report {i}"
            seen.largest_history = max(seen.largest_history, rows)
    return seen


def assert_flood_contained(seen: Burst, accepted: int) -> None:
    statuses = [status for status, _, _ in seen.flood]
    assert statuses[:LIMIT] == [accepted] * LIMIT and statuses[LIMIT:] == [429] * (FLOOD - LIMIT)
    for _, headers, body in seen.flood[LIMIT:]:
        assert 1 <= int(headers["retry-after"]) <= heartbeat_rate.WINDOW_SECONDS
        assert body["message"] == body["error"] and body["message"].startswith("too many heartbeats")
    assert seen.largest_history == CAP  # the cap was reached, and held at every check

    # The last report within the rate wins, and its busy -> idle transition is in the history.
    flooder = Worker.objects.get(name="flood")
    assert (flooder.active_tasks, flooder.idle_since) == (0, flooder.last_heartbeat)
    newest = list(Heartbeat.objects.filter(worker=flooder).order_by("-received_at", "-id")[:2])
    assert [(h.state, h.note) for h in newest] == [("idle", f"report {LIMIT - 1}"), ("busy", f"report {LIMIT - 2}")]
    assert newest[0].received_at == flooder.last_heartbeat

    # The other agents were answered as ever, and every report of theirs is in their history.
    for name, answers in seen.calm.items():
        assert answers == [accepted] * len(answers) and len(answers) == FLOOD // EVERY
        kept = Heartbeat.objects.filter(worker__name=name).order_by("received_at", "id")
        assert [h.state for h in kept] == [calm_report(n)["state"] for n in range(len(answers))]
        calm = Worker.objects.get(name=name)
        assert calm.last_heartbeat == kept.last().received_at
        assert calm.active_tasks == calm_report(len(answers) - 1)["activeTasks"]


@pytest.fixture
def agents(settings) -> dict[str, str]:
    settings.HICLAW_HEARTBEAT_HISTORY_MAX = CAP
    settings.HICLAW_HEARTBEAT_MAX_PER_MINUTE = LIMIT
    tokens = {}
    for name in ("flood", *CALM):
        apply_text(f"apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {{name: {name}}}\nspec: {{model: q}}\n")
        tokens[name] = AgentToken.mint("worker", name)[1]
    return tokens


@pytest.fixture
def redis():
    with empty_redis(REDIS_URL) as client:
        yield client


def test_a_flood_on_the_fast_path_is_refused_and_its_history_capped(agents, redis):
    app = HeartbeatIngest(None, REDIS_URL, cache_seconds=30)

    def post(token: str, body: dict):
        status, headers, payload = asgi_post(app, "/api/v1/heartbeats", json.dumps(body).encode(), token)
        return status, headers, json.loads(payload)

    buffered: list[int] = []

    def flush() -> None:
        buffered.append(redis.llen(buffer_key()))
        flush_buffer(redis)

    seen = burst(post, agents, flush, check_every=EVERY)
    assert redis.llen(buffer_key()) == 0
    assert_flood_contained(seen, accepted=202)
    # A refused report never reached Redis: the buffer held the admitted ones only.
    assert sum(buffered) == LIMIT + sum(len(answers) for answers in seen.calm.values())


@pytest.mark.slow  # two thousand requests through Django
def test_a_flood_through_the_api_view_is_refused_and_its_history_capped(agents, caplog):
    """Embedded mode (no Redis): every report is written as it arrives, so the cap is checked after each."""
    clients = {}
    for token in agents.values():
        clients[token] = APIClient()
        clients[token].credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(token: str, body: dict):
        response = clients[token].post("/api/v1/heartbeats", body, format="json")
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.json()

    seen = burst(post, agents, lambda: None, check_every=1)
    assert_flood_contained(seen, accepted=202)
    assert "Too Many Requests" not in caplog.text  # no log line per refused report


def test_the_in_process_count_is_per_agent_and_ends_with_its_window():
    limiter = heartbeat_rate.WindowLimiter(window=60)
    assert [limiter.admit("worker:a", 2, now=100.0) for _ in range(3)] == [0, 0, 60]
    assert limiter.admit("worker:a", 2, now=130.5) == 30  # seconds left, rounded up
    assert limiter.admit("worker:b", 2, now=130.5) == 0  # another agent counts apart
    assert limiter.admit("worker:a", 2, now=160.0) == 0  # a new window
    assert limiter.admit("worker:a", 0, now=160.0) == 0  # 0: no limit


@pytest.mark.django_db(transaction=True)
def test_the_reference_worker_pauses_its_heartbeats_as_retry_after_asks(live_server, settings, tmp_path):
    settings.HICLAW_HEARTBEAT_MAX_PER_MINUTE = 2
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: ada}\nspec: {model: q}\n")
    env = {"HICLAW_CONTROLLER_URL": live_server.url, "HICLAW_AGENT_TOKEN": AgentToken.mint("worker", "ada")[1]}
    agent = ReferenceWorker({**env, "HICLAW_WORKSPACE_DIR": str(tmp_path)})
    assert [agent.heartbeat(), agent.heartbeat(), agent.heartbeat()] == [True, True, False]  # the third: 429
    assert 50 < agent.heartbeats_paused_until - time.monotonic() <= heartbeat_rate.WINDOW_SECONDS
    reported = Worker.objects.get(name="ada").last_heartbeat

    settings.HICLAW_HEARTBEAT_MAX_PER_MINUTE = 0  # the controller would take one now, but the agent waits
    assert agent.heartbeat() is False
    assert Worker.objects.get(name="ada").last_heartbeat == reported
    agent.heartbeats_paused_until = time.monotonic()  # as when Retry-After has passed
    assert agent.heartbeat() is True
    assert Worker.objects.get(name="ada").last_heartbeat > reported


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("12", 12), ("0.5", 0.5), (None, 30), ("", 30), ("soon", 30), ("nan", 30), ("-3", 0), ("99999", 3600)],
)
def test_retry_after_is_read_as_seconds_with_a_fallback(header, seconds):
    assert retry_after(header, default=30) == seconds


def test_ready_reports_count_against_the_same_rate_and_are_refused_alike(agents, settings, caplog):
    """``POST /workers/{name}/ready`` counts as a heartbeat, so a loop of it is refused as one."""
    settings.HICLAW_HEARTBEAT_MAX_PER_MINUTE = 3
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agents['flood']}")
    assert client.post("/api/v1/heartbeats", {"state": "busy", "activeTasks": 1}, format="json").status_code == 202
    answers = [client.post("/api/v1/workers/flood/ready") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 429, 429]
    for refused in answers[2:]:
        assert 1 <= int(refused.headers["Retry-After"]) <= heartbeat_rate.WINDOW_SECONDS
        assert refused.json()["error"].startswith("too many heartbeats: at most 3 a minute")
    assert "Too Many Requests" not in caplog.text
    # The busy heartbeat and the first ready report's move to idle; the second, idle again within
    # the sampling interval, is coalesced, and the refused ones were never written.
    kept = Heartbeat.objects.filter(worker__name="flood").order_by("received_at", "id")
    assert [h.state for h in kept] == ["busy", "idle"]

    # Another worker's rate is its own.
    calm = APIClient()
    calm.credentials(HTTP_AUTHORIZATION=f"Bearer {agents['calm-a']}")
    assert calm.post("/api/v1/workers/calm-a/ready").status_code == 200
