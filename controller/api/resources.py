"""``/api/v1/{workers,teams,humans,managers,debugworkers}``: list, get, delete, and the
original CLI's flat create (POST) and update (PUT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from controller import policy
from controller.api import compat
from controller.api.base import AgentAPIView, lookup, queryset_for
from controller.api.errors import Conflict
from controller.api.kind_schema import KindSchema
from controller.api.representation import present
from controller.manifests import parse_objects
from controller.models import API_VERSION, KINDS, Human, Resource, Worker
from controller.services import debugworkers, operations

DEFAULT_LIMIT, MAX_LIMIT = 100, 500
TEAM_FILTERS = {"Worker": "team__name", "Team": "name", "DebugWorker": "team_name"}
SPEC_FROM_BODY = {
    "Worker": compat.worker_spec,
    "Manager": compat.manager_spec,
    "Human": compat.human_spec,
}


class ResourceListView(AgentAPIView):
    """``/{kind}s``: the caller's page of one kind, and the original CLI's flat create."""

    kind: str = ""
    plural: str = ""
    schema = KindSchema()

    def get(self, request):
        rows = policy.visible(self.principal, queryset_for(self.kind)).order_by("name")
        team = request.query_params.get("team")
        if team:
            if self.kind not in TEAM_FILTERS:
                raise ValidationError({"team": f"{self.plural} cannot be filtered by team"})
            rows = rows.filter(**{TEAM_FILTERS[self.kind]: team})
        if request.query_params.get("phase"):
            rows = rows.filter(phase=request.query_params["phase"])
        return Response(paged(request, rows, present, self.plural))

    def post(self, request):
        body = _body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ValidationError({"name": "required: the resource name"})
        existing_row = KINDS[self.kind].objects.filter(name=name).first()
        if existing_row is not None:
            _refuse_taken_name(self.principal, self.kind, existing_row, body)
        if self.kind == "Worker":
            operations.create_worker(self.principal, name, compat.worker_spec(body), team=_team_name(body))
        else:
            spec, annotations = _new_spec(self.kind, self.principal, body)
            operations.apply_as(self.principal, _documents(self.kind, name, spec, annotations=annotations))
        created = queryset_for(self.kind).get(name=name)
        body = present(created)
        if isinstance(created, Human):
            # Shown this once: the password is derived, never stored, and the person changes it.
            body["initialPassword"] = created.initial_password()
        return Response(body, status=status.HTTP_201_CREATED)


class ResourceDetailView(AgentAPIView):
    """``/{kind}s/{name}``: one resource, the original CLI's flat update, and deletion."""

    kind: str = ""
    schema = KindSchema()

    def get(self, request, name: str):
        return Response(present(lookup(self.principal, self.kind, name)))

    def put(self, request, name: str):
        resource = lookup(self.principal, self.kind, name)
        body = _body(request)
        if isinstance(resource, Worker):
            operations.update_worker(self.principal, resource, compat.worker_spec(body))
        else:
            spec = _updated_spec(resource, body)
            documents = _documents(self.kind, name, spec, resource.labels, resource.annotations)
            operations.apply_as(self.principal, documents)
        return Response(present(queryset_for(self.kind).get(name=name)))

    def delete(self, request, name: str):
        operations.delete(self.principal, lookup(self.principal, self.kind, name))
        return Response({"name": name, "deletionRequested": True}, status=status.HTTP_202_ACCEPTED)


def _refuse_taken_name(principal: policy.Principal, kind: str, existing_row: Resource, body: dict[str, Any]) -> None:
    """A create under a taken name: the policy is asked first, about the resource if the caller
    may see it, else about the create as asked (so nothing tells another team's resource from
    a free name until the create itself would succeed); then 409, naming no owner."""
    if policy.can_see(principal, existing_row):
        policy.authorize(principal, policy.UPDATE, kind, existing_row.name, team=policy.team_of(existing_row))
        raise Conflict(f"{kind.lower()}/{existing_row.name} already exists; update it with PUT")
    asked_team = existing_row.name if kind == "Team" else body.get("team") or ""
    policy.authorize(
        principal, policy.CREATE, kind, existing_row.name, team=asked_team if isinstance(asked_team, str) else ""
    )
    raise Conflict(f"name: the name {existing_row.name!r} is taken; choose another name")


def _new_spec(kind: str, principal: policy.Principal, body: dict[str, Any]) -> tuple[dict, dict]:
    if kind == "Team":
        return compat.team_spec(body), {}
    if kind == "DebugWorker":
        return debugworkers.debugworker_spec(principal, body)
    return SPEC_FROM_BODY[kind](body), {}


def _updated_spec(resource: Resource, body: dict[str, Any]) -> dict[str, Any]:
    if resource.kind == "Team":
        return compat.team_spec(body, resource.spec)
    if resource.kind == "DebugWorker":
        raise Conflict("a DebugWorker is changed by applying its manifest (POST /api/v1/apply)")
    return {**resource.spec, **SPEC_FROM_BODY[resource.kind](body)}


def _documents(kind: str, name: str, spec: dict, labels: dict | None = None, annotations: dict | None = None):
    metadata = {"name": name, "labels": labels or {}, "annotations": annotations or {}}
    return parse_objects([{"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}])


def _team_name(body: dict[str, Any]) -> str:
    team = body.get("team") or ""
    if not isinstance(team, str):
        raise ValidationError({"team": "must be a team name"})
    return team


def _body(request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationError({"body": "must be a JSON object"})
    return request.data


def paged(request, rows, present_one: Callable[[Any], dict[str, Any]], key: str) -> dict[str, Any]:
    """One page of ``rows`` (``?limit=``, ``?offset=``) as ``{key: [...], "total", "next"}``,
    ``next`` the URL of the following page or None: every list of the API pages this way."""
    limit = bounded_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = bounded_int(request, "offset", 0, 0, None)
    total = rows.count()
    # Past the end there is nothing to fetch, and an offset beyond bigint would fail in the database.
    page = [present_one(row) for row in rows[offset : offset + limit]] if offset < total else []
    following = None
    if offset + limit < total:
        query = request.query_params.copy()
        query["offset"], query["limit"] = str(offset + limit), str(limit)
        following = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {key: page, "total": total, "next": following}


def bounded_int(request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: f"must be a whole number, got {raw!r}"}) from None
    if value < low or (high is not None and value > high):
        raise ValidationError({name: f"must be between {low} and {high}" if high else f"must be at least {low}"})
    return value
