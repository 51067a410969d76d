"""Template helpers of the dashboard: ages, sortable column headers, room links."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from controller.services.heartbeat_health import LATE_AFTER, MISSED_AFTER
from debugui.actions import PUSH_QUESTION, WORKER_ACTIONS
from debugui.queries import HEARTBEAT_LABELS, heartbeat_view

register = template.Library()


@register.filter
def age(moment: datetime | None, empty: str = "never") -> str:
    """``12 s``, ``5 min``, ``3 h``, ``2 d`` since ``moment`` (the page script keeps it ticking)."""
    if moment is None:
        return empty
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@register.simple_tag
def heartbeat_health(agent) -> dict:
    """The heartbeat age's colour class and label (``heartbeat_view``), and a title that says
    the thresholds, so the state is told in words as well as colour."""
    view = heartbeat_view(agent)
    interval = view["interval"]
    late, missed = LATE_AFTER * interval, MISSED_AFTER * interval
    title = f"reports every {interval} s: late after {late:g} s, missed after {missed:g} s"
    return {**view, "label": HEARTBEAT_LABELS[view["health"]], "title": title}


@register.filter
def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


@register.filter
def room_url(room_id: str) -> str:
    """A matrix.to link that opens the room in the reader's own Matrix client."""
    return f"https://matrix.to/#/{quote(room_id, safe='!:')}" if room_id else ""


@register.simple_tag(takes_context=True)
def sort_header(context, label: str, key: str) -> str:
    """A column header that sorts by ``key`` (again: reversed), keeping the other query parameters."""
    request = context["request"]
    current = context.get("sort", "")
    query = request.GET.copy()
    query.pop("page", None)
    query["sort"] = f"-{key}" if current == key else key
    direction = {key: "ascending", f"-{key}": "descending"}.get(current, "none")
    arrow = {"ascending": " ▲", "descending": " ▼"}.get(direction, "")
    return format_html(
        '<th scope="col" aria-sort="{}"><a href="?{}">{}{}</a></th>', direction, query.urlencode(), label, arrow
    )


@register.simple_tag(takes_context=True)
def page_url(context, number: int) -> str:
    query = context["request"].GET.copy()
    query["page"] = number
    return f"?{query.urlencode()}"


@register.inclusion_tag("debugui/_action.html", takes_context=True)
def worker_action(context, worker: str, action: str, style: str = "") -> dict:
    """A confirmed POST button for one of ``debugui.actions.WORKER_ACTIONS`` on ``worker``."""

    spec = WORKER_ACTIONS[action]
    return {
        "url": reverse("debugui:worker-action", args=[worker, action]),
        "label": spec.label,
        "question": spec.question.format(name=worker),
        "target": worker,
        "action": action,
        "style": style,
        "next": context.get("next_path") or context["request"].get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("debugui/_action.html", takes_context=True)
def team_push(context, team: str) -> dict:
    """The confirmed POST button that pushes config and skills to every member of ``team``."""
    return {
        "url": reverse("debugui:team-push", args=[team]),
        "label": "Push config/skills to team",
        "question": PUSH_QUESTION.format(what=f"every member of team {team}"),
        "target": team,
        "action": "push",
        "style": "secondary",
        "next": context.get("next_path") or context["request"].get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }
