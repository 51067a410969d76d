"""What every API view shares: who may call, and how resources are looked up for a caller."""

from __future__ import annotations

import io
from typing import Any

from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.views import APIView

from controller import policy
from controller.api.authentication import AgentTokenAuthentication, DashboardSessionAuthentication
from controller.manifests import nul_path
from controller.manifests.bounds import TOO_DEEP, too_deep
from controller.models import KINDS, Resource, Team, Worker

NUL_REFUSED = "NUL characters (\\x00) are not allowed"
# Any request body the API decodes (JSON, or YAML manifests): read no further than this.
MAX_BODY_BYTES = 1024 * 1024
PLURALS = {
    "workers": "Worker",
    "teams": "Team",
    "humans": "Human",
    "managers": "Manager",
    "debugworkers": "DebugWorker",
}


class NulFreeJSONParser(JSONParser):
    """JSON bodies, refused with a 400 naming the field when a key or string holds a NUL character
    (PostgreSQL text cannot store one, so a lookup or a write with it would fail in the database)
    or when they nest deeper than any request needs (the decoder and every walk recurse)."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(io.BytesIO(read_bounded(stream)), media_type, parser_context)
        except RecursionError:
            raise ValidationError({"body": f"JSON {TOO_DEEP}"}) from None
        deep = too_deep(data)
        if deep is not None:
            raise ValidationError({deep or "body": f"JSON {TOO_DEEP}"})
        field = nul_path(data)
        if field is not None:
            raise ValidationError({field or "body": NUL_REFUSED})
        return data


def read_bounded(stream) -> bytes:
    """The request body, refused (400 naming ``body``) past ``MAX_BODY_BYTES`` without reading on."""
    data = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
    if len(data) > MAX_BODY_BYTES:
        raise ValidationError({"body": f"request bodies are limited to {MAX_BODY_BYTES} bytes"})
    return data


class AgentAPIView(APIView):
    """A view for agents (bearer token) and dashboard sessions alike."""

    authentication_classes = [AgentTokenAuthentication, DashboardSessionAuthentication]
    parser_classes = [NulFreeJSONParser]

    @property
    def principal(self) -> policy.Principal:
        user = self.request.user
        if not isinstance(user, policy.Principal):
            # The authentication classes above give a Principal; anything else never got past them.
            raise NotAuthenticated()
        return user

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # Names in the path and query end in lookups; refused for the same reason as in bodies.
        for name, value in [*kwargs.items(), *request.query_params.lists()]:
            if "\x00" in name or nul_path(value) is not None:
                raise ValidationError({name: NUL_REFUSED})


def queryset_for(kind: str):
    """Rows with what the API representation needs loaded in the same query."""
    model = KINDS[kind]
    if model is Worker:
        return Worker.objects.select_related("team")
    if model is Team:
        return Team.objects.prefetch_related("members")
    return model.objects.all()


def lookup(principal: policy.Principal, kind: str, name: str) -> Resource:
    """The named resource if the caller may see it. Out of scope is the same 404 as missing,
    for reads and changes alike: the change itself then asks the policy (403 naming the rule)."""
    resource = policy.visible(principal, queryset_for(kind)).filter(name=name).first()
    if resource is None:
        raise policy.NotFound(kind, name)
    return resource
