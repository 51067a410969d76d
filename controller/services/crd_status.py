"""The status of a hiclaw.io object mirrored by the CRD front door: what it should show, and
writing it to the object's status subresource when that differs.

A resource mirrored from an object carries two annotations: ``hiclaw.io/source: crd`` (so
the start-up sweep knows it may delete it when the object is gone, and never touches
resources applied through the API or CLI) and ``hiclaw.io/crd-generation``, the object's
``metadata.generation`` that was applied. The status shows the resource's own status (the
body the API answers with, ``Resource.status_manifest``); ``observedGeneration`` is the
object's generation once the reconciler has caught up with it.

A manifest the controller refused is reported with phase ``Invalid`` and an ``Accepted``
condition False; that report stays until the object's spec changes again, even when the
resource (still running the previous spec) saves a new status meanwhile.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from controller.models import KINDS, Resource, Team, Worker
from controller.reconcile_queue import send_after_commit

if TYPE_CHECKING:
    from kubernetes.client import CustomObjectsApi

logger = logging.getLogger(__name__)

SOURCE_ANNOTATION, SOURCE_CRD = "hiclaw.io/source", "crd"
GENERATION_ANNOTATION = "hiclaw.io/crd-generation"
STATUS_TASK = "controller.tasks.write_crd_status"  # runs ``write_status``
INVALID, FAILED = "Invalid", "Failed"
# Changes with every heartbeat: the dashboard and the API show it; on the object it would
# mean a status write (and a watch event for every client) per agent every 30 seconds.
_NOT_MIRRORED = ("lastHeartbeat",)


def is_mirrored(resource: Resource) -> bool:
    return resource.annotations.get(SOURCE_ANNOTATION) == SOURCE_CRD


def desired_status(resource: Resource, current: dict[str, Any]) -> dict[str, Any]:
    """The status ``resource`` should show on its object, given the object's ``current`` status."""
    status = {k: v for k, v in resource.status_manifest().items() if k not in _NOT_MIRRORED}
    applied = resource.annotations.get(GENERATION_ANNOTATION, "")
    if resource.observed_generation >= resource.generation and applied.isdigit():
        status["observedGeneration"] = int(applied)
    else:
        # Not reconciled since the object's last change: the status speaks for an older generation.
        status.pop("observedGeneration")
        if "observedGeneration" in current:
            status["observedGeneration"] = current["observedGeneration"]
    status["conditions"] = _keep_transition_times(status["conditions"], current.get("conditions") or [])
    return status


def rejected_status(generation: int, message: str, phase: str = INVALID) -> dict[str, Any]:
    """The status of an object whose manifest the controller refused: nothing was applied."""
    condition = {
        "type": "Accepted",
        "status": "False",
        "reason": phase,
        "message": message,
        "lastTransitionTime": timezone.now().isoformat(),
    }
    return {"phase": phase, "message": message, "observedGeneration": generation, "conditions": [condition]}


def patch_status(api: CustomObjectsApi, obj: dict[str, Any], status: dict[str, Any]) -> bool:
    """Write ``status`` to the object unless it shows that already. Returns whether it wrote.

    Fields the object shows that ``status`` lacks are removed. A status write changes the
    object's resourceVersion but not its generation, so the mirror does not apply it again.
    """
    current = obj.get("status") or {}
    if current.get("conditions"):
        status = {**status, "conditions": _keep_transition_times(status.get("conditions", []), current["conditions"])}
    patch: dict[str, Any] = {**{key: None for key in current if key not in status}, **status}
    if all(current.get(key) == value for key, value in patch.items()):
        return False
    from controller.services import crd_kube

    metadata = obj["metadata"]
    plural = crd_kube.PLURALS[obj["kind"]]
    api.patch_namespaced_custom_object_status(
        crd_kube.GROUP, crd_kube.VERSION, metadata["namespace"], plural, metadata["name"], {"status": patch}
    )
    return True


def show_resource_status(api: CustomObjectsApi, obj: dict[str, Any], resource: Resource) -> bool:
    """Write ``resource``'s status to its object, unless the object's newest spec was refused."""
    if _refused_now(obj):
        return False
    return patch_status(api, obj, desired_status(resource, obj.get("status") or {}))


def write_status(kind: str, name: str) -> None:
    """Bring the object of a mirrored resource up to date with the resource's status (a task)."""
    # Imported here: every process connects the signals, only the front door's load the client.
    from kubernetes.client.exceptions import ApiException

    from controller.services import crd_kube

    resource = KINDS[kind].objects.filter(name=name).first()
    if resource is None or not is_mirrored(resource):
        return
    api = crd_kube.custom_objects()
    plural = crd_kube.PLURALS[kind]
    try:
        found = api.get_namespaced_custom_object(crd_kube.GROUP, crd_kube.VERSION, crd_kube.namespace(), plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return  # the object is gone; the mirror deletes the resource
        raise
    show_resource_status(api, cast(dict[str, Any], found), resource)


def _refused_now(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    refused = any(c.get("type") == "Accepted" and c.get("status") == "False" for c in status.get("conditions") or [])
    return refused and status.get("observedGeneration") == obj["metadata"].get("generation")


def _keep_transition_times(conditions: list[dict], current: list[dict]) -> list[dict]:
    """A condition's lastTransitionTime moves only when its status does (the Kubernetes rule);
    the API's Healthy condition stamps every heartbeat, which the object need not repeat."""
    shown = {c.get("type"): c for c in current}
    kept = []
    for condition in conditions:
        old = shown.get(condition["type"])
        if old is not None and old.get("status") == condition["status"] and "lastTransitionTime" in old:
            condition = {**condition, "lastTransitionTime": old["lastTransitionTime"]}
        kept.append(condition)
    return kept


# --- event-driven writes ----------------------------------------------------------------
# What each mirrored resource's status last looked like when a write was queued, so saves
# that change no status (a heartbeat, an index update) queue nothing.
_queued: dict[tuple[str, str], str] = {}


def connect() -> None:
    """Queue a status write whenever a mirrored resource's status changes (``apps.ready``)."""
    for model in KINDS.values():
        post_save.connect(_saved, sender=model, dispatch_uid=f"crd-status-{model.kind}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"crd-status-deleted-{model.kind}")


def _saved(sender: type[Resource], instance: Resource, **kwargs: Any) -> None:
    if not settings.HICLAW_WATCH_CRDS:
        return
    # A Team's status counts its members' readiness, so a member's change is its Team's too.
    team_id = instance.team_id if isinstance(instance, Worker) else None
    if not (is_mirrored(instance) or team_id is not None) or not _status_changed(instance):
        return
    if is_mirrored(instance):
        send_after_commit(STATUS_TASK, instance.kind, instance.name)
    if team_id is not None:
        team = Team.objects.filter(pk=team_id).first()
        if team is not None and is_mirrored(team):
            send_after_commit(STATUS_TASK, "Team", team.name)


def _deleted(sender: type[Resource], instance: Resource, **kwargs: Any) -> None:
    _queued.pop((instance.kind, instance.name), None)


def _status_changed(resource: Resource) -> bool:
    status = {k: v for k, v in resource.status_manifest().items() if k not in _NOT_MIRRORED}
    status["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status["conditions"]]
    fingerprint = json.dumps(
        [resource.created_at.isoformat(), resource.annotations.get(GENERATION_ANNOTATION), resource.generation, status],
        sort_keys=True,
        default=str,
    )
    key = (resource.kind, resource.name)
    if _queued.get(key) == fingerprint:
        return False
    _queued[key] = fingerprint
    return True
