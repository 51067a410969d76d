"""Heartbeats: check a report, then apply it now or buffer it and apply many at once.

Workers, team leaders and the Manager report about themselves; a report
names its agent by kind and name.

Embedded mode records each report as it arrives. With Redis, the API's fast
path (controller/ingest.py) only checks and buffers reports in a Redis list;
the ``flush_heartbeats`` task applies them in batches — one read, one bulk
update and one bulk insert per batch, whatever the number of workers — so
ingestion is never held up by the database.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from controller.errors import DomainError
from controller.models import AgentState, Heartbeat, Manager, Worker
from controller.models.manager import MANAGER_HEARTBEAT_FIELDS
from controller.models.worker import HEARTBEAT_FIELDS
from controller.services import events, live
from controller.services import heartbeat_history as history

MAX_VERSION, MAX_NOTE = 64, 500
MAX_ACTIVE_TASKS = 2**31 - 1  # stored in a PostgreSQL integer column
FLUSH_BATCH = 20_000
WORKER, MANAGER = "worker", "manager"  # the kinds of agent that report


class InvalidHeartbeat(DomainError):
    """400: a field of the report is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Report:
    worker: str
    state: str
    active_tasks: int
    runtime_version: str
    skills_version: str
    note: str
    at: datetime
    kind: str = WORKER  # "worker" (a worker or team leader) or "manager"; ``worker`` is its name


def parse_report(worker: str, data: Any, now: datetime | None = None, *, kind: str = WORKER) -> Report:
    """A heartbeat body (``{"state", "activeTasks", "runtimeVersion", "skillsVersion", "note"}``) checked."""
    if not isinstance(data, dict):
        raise InvalidHeartbeat("body", "must be a JSON object")
    state = data.get("state")
    if state not in AgentState.values:
        raise InvalidHeartbeat("state", f"must be one of {', '.join(AgentState.values)}, got {state!r}")
    active = data.get("activeTasks", 0)
    if isinstance(active, bool) or not isinstance(active, int) or not 0 <= active <= MAX_ACTIVE_TASKS:
        raise InvalidHeartbeat("activeTasks", f"must be a whole number from 0 to {MAX_ACTIVE_TASKS}, got {active!r}")
    texts = {}
    for key, limit in (("runtimeVersion", MAX_VERSION), ("skillsVersion", MAX_VERSION), ("note", MAX_NOTE)):
        value = data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > limit or "\x00" in value:
            raise InvalidHeartbeat(key, f"must be text of at most {limit} characters, without NUL characters")
        texts[key] = value
    return Report(
        worker=worker,
        state=state,
        active_tasks=active,
        runtime_version=texts["runtimeVersion"],
        skills_version=texts["skillsVersion"],
        note=texts["note"],
        at=now or timezone.now(),
        kind=kind,
    )


def reporter_exists(kind: str, name: str) -> bool:
    """Whether the agent a report of ``kind`` names is there to take it (and not being deleted)."""
    model = Manager if kind == MANAGER else Worker
    return model.objects.filter(name=name, deletion_requested_at__isnull=True).exists()


def report_ready(worker: str) -> Report:
    """A worker saying it is up (``POST /workers/{name}/ready``): an idle heartbeat with no task."""
    return Report(worker, AgentState.IDLE, 0, "", "", "ready", timezone.now())


def apply_reports(reports: list[Report]) -> int:
    """Apply reports oldest first; return how many reached their agent (reports for unknown or
    deleted agents are dropped). The history keeps a sample of them (controller.services.heartbeat_history)."""
    if not reports:
        return 0
    with transaction.atomic():
        applied = _apply(Worker, HEARTBEAT_FIELDS, [r for r in reports if r.kind != MANAGER])
        applied += _apply(Manager, MANAGER_HEARTBEAT_FIELDS, [r for r in reports if r.kind == MANAGER])
    return applied


_Agent = TypeVar("_Agent", Worker, Manager)


def _apply(model: type[_Agent], fields: list[str], reports: list[Report]) -> int:
    """One locked read, one bulk update, one bulk insert and one trim for the reports of one kind.

    Reports are taken oldest first, and one older than what its agent already holds (a
    buffered report overtaken by a direct one, such as a ready report) changes nothing: the
    agent's row always shows its newest report. The history keeps samples
    (``heartbeat_history.keeps``) and never more than its cap."""
    if not reports:
        return 0
    rows = model.objects.select_for_update(of=("self",))
    if issubclass(model, Worker):
        rows = rows.select_related("team")
    agents = {a.name: a for a in rows.filter(name__in={r.worker for r in reports}, deletion_requested_at__isnull=True)}
    # Marked as having missed heartbeats (Workers only): a report clears it (Worker.take_report).
    was_marked = {name for name, a in agents.items() if getattr(a, "heartbeat_missed_since", None) is not None}
    last = history.last_samples(model, [a.pk for a in agents.values()])
    every, applied, touched, samples, sampled = history.sample_every(), 0, {}, [], set()
    for r in sorted(reports, key=lambda report: report.at):  # stable: equal times keep arrival order
        agent = agents.get(r.worker)
        if agent is None or (agent.last_heartbeat is not None and r.at < agent.last_heartbeat):
            continue
        entry = agent.apply_heartbeat(
            r.state,
            active_tasks=r.active_tasks,
            runtime_version=r.runtime_version,
            skills_version=r.skills_version,
            note=r.note,
            now=r.at,
        )
        applied, touched[agent.name] = applied + 1, agent
        sample = history.Sample(r.at, r.state, r.note)
        if history.keeps(last.get(agent.pk), sample, every):
            samples.append(entry)
            sampled.add(agent.pk)
            last[agent.pk] = sample  # the history's newest row of this agent from now on
    model.objects.bulk_update(touched.values(), fields, batch_size=1000)
    Heartbeat.objects.bulk_create(samples, batch_size=1000)
    history.trim(model, sampled)  # only agents given a row can be over the cap
    for agent in touched.values():
        if isinstance(agent, Worker):
            if agent.name in was_marked:
                events.record("Worker", agent.name, "HeartbeatsRecovered", "reporting again", team=agent.team_name)
            live.worker_changed(agent.name, agent.team_name)
        else:
            live.record_changed("manager", agent.name)  # the Managers pages
    return applied


# --- the Redis buffer --------------------------------------------------------------------
def buffer_key() -> str:
    return f"{settings.HICLAW_RESOURCE_PREFIX}heartbeats"


def encode(report: Report) -> str:
    return json.dumps({**asdict(report), "at": report.at.isoformat()})


def decode(item: bytes | str) -> Report:
    data = json.loads(item)
    return Report(**{**data, "at": parse_datetime(data["at"])})


def flush_buffer(redis, limit: int = FLUSH_BATCH) -> int:
    """Apply up to ``limit`` buffered reports; return how many were applied."""
    items = redis.lpop(buffer_key(), limit) or []
    return apply_reports([decode(item) for item in items])


def prune_history(now: datetime | None = None) -> int:
    """Keep each agent's last ``HICLAW_HEARTBEAT_HISTORY_MAX`` reports of the last
    ``HICLAW_HEARTBEAT_HISTORY_DAYS`` days; return how many were deleted.

    The write path already holds each reporting agent to the maximum
    (``heartbeat_history.trim``); this hourly pass drops what grew old, and applies a
    lowered maximum to agents that have stopped reporting."""
    now = now or timezone.now()
    deleted, _ = Heartbeat.objects.filter(
        received_at__lt=now - timedelta(days=settings.HICLAW_HEARTBEAT_HISTORY_DAYS)
    ).delete()
    keep = settings.HICLAW_HEARTBEAT_HISTORY_MAX
    table = Heartbeat._meta.db_table
    # One statement for every agent over the cap: rank each agent's rows newest first.
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "  # noqa: S608
            f"(PARTITION BY worker_id, manager_id ORDER BY received_at DESC, id DESC) AS rank FROM {table}) ranked "
            "WHERE rank > %s)",
            [keep],
        )
        deleted += cursor.rowcount
    return deleted
