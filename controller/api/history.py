"""``/api/v1/{kind}s/{name}/events`` and ``/api/v1/workers/{name}/logs``: read-only views of what
happened to one resource (the ``hiclaw describe``, ``events`` and ``logs`` commands read them).

The resource is looked up through the policy first, so a team-scoped token gets the same 404
for another team's resource as for a missing one, and never its history.
"""

from __future__ import annotations

from typing import cast

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from controller.api.base import AgentAPIView, lookup
from controller.api.schema import errors
from controller.models import Worker
from controller.services import events, inspection

MAX_EVENTS, DEFAULT_EVENTS = 200, 20
MAX_LOG_LINES, DEFAULT_LOG_LINES = 5000, 100


# A dict of fields, not a class: a serializer class cannot declare a field named ``source``.
EventSerializer = inline_serializer(
    "ResourceEvent",
    {
        "at": serializers.DateTimeField(),
        "source": serializers.ChoiceField(["event", "audit"], help_text="an Event, or an audit record of an action"),
        "type": serializers.ChoiceField(["Normal", "Warning"]),
        "reason": serializers.CharField(help_text="Crashed, OOMKilled, Restarted; or the action: apply, delete, …"),
        "message": serializers.CharField(help_text="the event's message, or who acted"),
        "exitCode": serializers.IntegerField(allow_null=True),
        "about": serializers.CharField(
            required=False, help_text="a Team's events only: the resource the entry is about (team/…, worker/…)"
        ),
    },
)


class EventsSerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()
    events = serializers.ListField(child=EventSerializer)


class LogsSerializer(serializers.Serializer):
    name = serializers.CharField()
    log = serializers.CharField(help_text="the last lines the worker's instance printed")
    message = serializers.CharField(help_text="why there is no log (no instance yet, backend down); empty if none")


class _EventsSchema(AutoSchema):
    """One events operation per kind (the view is made with its ``kind``), each with its own id."""

    def get_operation_id(self) -> str:
        return f"{cast(ResourceEventsView, self.view).kind.lower()}s_events"

    def get_tags(self) -> list[str]:
        return [f"{cast(ResourceEventsView, self.view).kind.lower()}s"]


def bounded_int(request, field: str, default: int, maximum: int) -> int:
    """A query parameter between 1 and ``maximum``; anything else is a 400 naming it."""
    raw = request.query_params.get(field)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({field: f"must be a whole number from 1 to {maximum}"}) from None
    if not 1 <= value <= maximum:
        raise ValidationError({field: f"must be a whole number from 1 to {maximum}"})
    return value


class ResourceEventsView(AgentAPIView):
    """A resource's Events and the audit records of actions on it, newest first. A Team's are
    the team's timeline: its own and its members' (and its DebugWorkers'), each naming its resource."""

    kind: str = ""
    schema = _EventsSchema()

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description=f"how many, 1-{MAX_EVENTS} (default {DEFAULT_EVENTS})")],
        responses={200: EventsSerializer, **errors(400, 404)},
    )
    def get(self, request, name: str):
        limit = bounded_int(request, "limit", DEFAULT_EVENTS, MAX_EVENTS)
        resource = lookup(self.principal, self.kind, name)
        if self.kind == "Team":
            entries = events.team_timeline(resource.name, limit)
        else:
            entries = events.timeline(self.kind, resource.name, limit)
        return Response({"kind": self.kind, "name": resource.name, "events": [events.as_json(e) for e in entries]})


class WorkerLogsView(AgentAPIView):
    """The last lines a worker's instance printed, as its backend keeps them."""

    @extend_schema(
        operation_id="workers_logs",
        parameters=[
            OpenApiParameter("tail", int, description=f"lines, 1-{MAX_LOG_LINES} (default {DEFAULT_LOG_LINES})")
        ],
        responses={200: LogsSerializer, **errors(400, 404)},
    )
    def get(self, request, name: str):
        tail = bounded_int(request, "tail", DEFAULT_LOG_LINES, MAX_LOG_LINES)
        worker = cast(Worker, lookup(self.principal, "Worker", name))
        log, message = inspection.log_tail(worker, tail)
        return Response({"name": worker.name, "log": log, "message": message})
