"""What every API view shares: who may call, and how resources are looked up for a caller."""

from __future__ import annotations

from django.http import Http404
from rest_framework.views import APIView

from controller import policy
from controller.api.authentication import AgentTokenAuthentication, DashboardSessionAuthentication
from controller.models import KINDS, Resource, Team, Worker

PLURALS = {
    "workers": "Worker",
    "teams": "Team",
    "humans": "Human",
    "managers": "Manager",
    "debugworkers": "DebugWorker",
}


class AgentAPIView(APIView):
    """A view for agents (bearer token) and dashboard sessions alike."""

    authentication_classes = [AgentTokenAuthentication, DashboardSessionAuthentication]

    @property
    def principal(self) -> policy.Principal:
        return self.request.user


def queryset_for(kind: str):
    """Rows with what the API representation needs loaded in the same query."""
    model = KINDS[kind]
    if model is Worker:
        return Worker.objects.select_related("team")
    if model is Team:
        return Team.objects.prefetch_related("members")
    return model.objects.all()


def lookup(principal: policy.Principal, kind: str, name: str) -> Resource:
    """The named resource if the caller may see it; 404 otherwise (no existence leak)."""
    resource = policy.visible(principal, queryset_for(kind)).filter(name=name).first()
    if resource is None:
        raise Http404(f"{kind.lower()}/{name} not found")
    return resource


def existing(kind: str, name: str) -> Resource:
    """The named resource for a change; the operation itself then asks the policy (403)."""
    resource = queryset_for(kind).filter(name=name).first()
    if resource is None:
        raise Http404(f"{kind.lower()}/{name} not found")
    return resource
