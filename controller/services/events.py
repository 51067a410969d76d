"""Reading and pruning the Event history (controller/models/event.py), and a resource's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from controller.models import AuditRecord, Event, EventType, Worker


def record(kind: str, name: str, reason: str, message: str, *, team: str = "", warning: bool = False) -> Event:
    """Add an event to a resource's history (what the world or the controller did to it)."""
    event_type = EventType.WARNING if warning else EventType.NORMAL
    return Event.objects.create(kind=kind, name=name, team=team, type=event_type, reason=reason, message=message[:500])


def record_on_worker(name: str, reason: str, message: str, *, warning: bool = False) -> Event:
    """An event on worker ``name``, with its team looked up (an upgrade target knows only the name)."""
    team = Worker.objects.filter(name=name).values_list("team__name", flat=True).first() or ""
    return record("Worker", name, reason, message, team=team, warning=warning)


PHASE_REASONS = ("PhaseChanged", "Woke")  # what record_phase records, for readers that want the rest


def record_phase(kind: str, name: str, before: str, after: str, *, team: str = "") -> Event:
    """A pass moved the resource's phase: "Woke" for Sleeping → Running, else "PhaseChanged".
    Called once per pass that changes it, so a retried failing pass (the same phase) adds none."""
    reason = "Woke" if (before, after) == ("Sleeping", "Running") else "PhaseChanged"
    message = f"phase {before or '(none)'} → {after}"
    return record(kind, name, reason, message, team=team, warning=after == "Failed")


def events_of(kind: str, name: str, limit: int = 20) -> QuerySet[Event]:
    """The resource's latest events, newest first."""
    return Event.objects.filter(kind=kind, name=name).order_by("-at", "-id")[:limit]


def prune_events(now: datetime | None = None) -> int:
    """Delete events older than ``HICLAW_EVENT_HISTORY_DAYS`` days; return how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.HICLAW_EVENT_HISTORY_DAYS)
    deleted, _ = Event.objects.filter(at__lt=cutoff).delete()
    return deleted


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a resource's recent history: an audit record (someone's action) or an event."""

    at: datetime
    source: str  # "audit" or "event"
    title: str  # the action, or the event's reason
    text: str  # who acted, or the event's message
    warning: bool = False
    exit_code: int | None = None
    about: str = ""  # the resource it is about ("worker/alpha-dev"), in a team's timeline

    @property
    def about_kind(self) -> str:
        return self.about.partition("/")[0]

    @property
    def about_name(self) -> str:
        return self.about.partition("/")[2]


def as_json(entry: TimelineEntry) -> dict[str, Any]:
    """An entry as the API answers it (``GET /{kind}s/{name}/events``), kubectl's event fields."""
    return {
        "at": entry.at.isoformat(),
        "source": entry.source,
        "type": EventType.WARNING.value if entry.warning else EventType.NORMAL.value,
        "reason": entry.title,
        "message": entry.text,
        "exitCode": entry.exit_code,
        **({"about": entry.about} if entry.about else {}),
    }


def timeline(kind: str, name: str, limit: int = 15) -> list[TimelineEntry]:
    """The resource's latest audit records and events together, newest first."""
    entries = [
        TimelineEntry(record.at, "audit", record.action, audit_text(record))
        for record in AuditRecord.objects.filter(target_kind=kind, target_name=name).order_by("-at")[:limit]
    ]
    entries += [
        TimelineEntry(event.at, "event", event.reason, event.message, event.type == EventType.WARNING, event.exit_code)
        for event in events_of(kind, name, limit)
    ]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)[:limit]


def team_timeline(team: str, limit: int = 15) -> list[TimelineEntry]:
    """The latest entries of the Team and of its members together, newest first, each naming
    the resource it is about. Two queries whatever the number of members: events carry their
    team, and the members' audit records are found through a subquery of their names."""
    members = Worker.objects.filter(team__name=team).values("name")
    audits = AuditRecord.objects.filter(
        Q(target_kind="Team", target_name=team) | Q(target_kind="Worker", target_name__in=members)
    ).order_by("-at")[:limit]
    rows = Event.objects.filter(Q(team=team) | Q(kind="Team", name=team)).order_by("-at", "-id")[:limit]
    entries = [
        TimelineEntry(r.at, "audit", r.action, audit_text(r), about=f"{r.target_kind.lower()}/{r.target_name}")
        for r in audits
    ]
    entries += [
        TimelineEntry(
            e.at, "event", e.reason, e.message, e.type == EventType.WARNING, e.exit_code, f"{e.kind.lower()}/{e.name}"
        )
        for e in rows
    ]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)[:limit]


def audit_text(record: AuditRecord) -> str:
    """Who acted, and what changed when the record says: "by team-admin alice: model qwen → claude"."""
    who = f"by {record.identity} {record.actor}"
    changes = (record.detail or {}).get("changes") or {}
    if not changes:
        return who
    return f"{who}: " + ", ".join(
        f"{field} {before or '(none)'} → {after or '(none)'}" for field, (before, after) in changes.items()
    )
