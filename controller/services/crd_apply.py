"""One hiclaw.io object into the database: apply it, delete it, or sweep what lost its object.

The CRD front door acts as an admin: its principal goes through ``operations.apply_as`` and
``operations.delete``, the path of ``POST /api/v1/apply``, ``DELETE /api/v1/...``, the CLI and
``manage.py hiclaw_apply``, so an object is held to exactly the checks an admin's apply is
and every change has an audit record naming ``crd:<namespace>``. Whoever may create
objects in the namespace is thereby trusted as an admin: grant that right (the CRDs'
create/update verbs) accordingly.

Resources mirrored from objects are marked (``crd_status.SOURCE_ANNOTATION``); the front door
deletes only marked ones and never takes over a resource applied through the API or CLI.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes.client import CustomObjectsApi

from controller import policy
from controller.errors import DomainError
from controller.manifests import ManifestInvalid, parse_objects
from controller.models import KINDS
from controller.services import operations
from controller.services.crd_status import (
    FAILED,
    GENERATION_ANNOTATION,
    SOURCE_ANNOTATION,
    SOURCE_CRD,
    desired_status,
    is_mirrored,
    patch_status,
    rejected_status,
)

logger = logging.getLogger(__name__)

# Annotations clients add for themselves: kubectl's last-applied-configuration repeats the
# whole object (a DebugWorker's access token included), so it must not reach the database.
CLIENT_ANNOTATION_PREFIXES = ("kubectl.kubernetes.io/",)
OUR_ANNOTATIONS = (SOURCE_ANNOTATION, GENERATION_ANNOTATION)
INVALID, REFUSED = "invalid", "refused"


def principal(namespace: str) -> policy.Principal:
    """The CRD front door of ``namespace``: an admin, named for the audit trail."""
    return policy.Principal(policy.ADMIN, f"crd:{namespace}")


def manifest_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The manifest an object stands for, marked as mirrored at the object's generation."""
    metadata = obj["metadata"]
    annotations = {
        key: value
        for key, value in (metadata.get("annotations") or {}).items()
        if not key.startswith(CLIENT_ANNOTATION_PREFIXES) and key not in OUR_ANNOTATIONS
    }
    annotations[SOURCE_ANNOTATION] = SOURCE_CRD
    annotations[GENERATION_ANNOTATION] = str(metadata.get("generation", 1))
    manifest_metadata: dict[str, Any] = {"name": metadata["name"], "annotations": annotations}
    if metadata.get("labels"):
        manifest_metadata["labels"] = metadata["labels"]
    # A missing spec stays missing, so the refusal says "spec: required".
    spec = obj.get("spec")
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": manifest_metadata, "spec": spec}


def mirror(api: CustomObjectsApi, obj: dict[str, Any]) -> str:
    """Apply an added or changed object; report a refusal in its status. Returns what happened:
    the apply's action ("created", "configured", "unchanged"); "invalid" for a manifest that is
    wrong on its own (it stays wrong until the object changes); "refused" when it conflicts
    with what is stored (a name taken, a resource still being deleted), which may pass later."""
    kind, metadata = obj["kind"], obj["metadata"]
    name, namespace, generation = metadata["name"], metadata["namespace"], metadata.get("generation", 1)
    try:
        documents = parse_objects([manifest_of(obj)])
    except ManifestInvalid as invalid:
        patch_status(api, obj, rejected_status(generation, _describe(invalid)))
        return INVALID
    existing = KINDS[kind].objects.filter(name=name).first()
    if existing is not None and not is_mirrored(existing):
        message = (
            f"{kind.lower()}/{name} exists already and was not created from a hiclaw.io object "
            f"(it was applied through the API or CLI, or is a team member); the CRD front door leaves it "
            f"alone: delete one of the two, or give this object another name"
        )
        patch_status(api, obj, rejected_status(generation, message, FAILED))
        return REFUSED
    try:
        outcome = operations.apply_as(principal(namespace), documents)[0]
    except ManifestInvalid as refusal:
        patch_status(api, obj, rejected_status(generation, _describe(refusal)))
        return REFUSED
    except DomainError as refusal:
        patch_status(api, obj, rejected_status(generation, refusal.describe(), FAILED))
        return REFUSED
    resource = KINDS[kind].objects.get(name=name)
    # Applied: the resource's own status replaces whatever refusal the object showed.
    patch_status(api, obj, desired_status(resource, obj.get("status") or {}))
    logger.info("%s/%s mirrored from namespace %s: %s", kind.lower(), name, namespace, outcome.action)
    return outcome.action


def mirror_listed(api: CustomObjectsApi, objs: list[dict[str, Any]]) -> dict[str, str]:
    """Apply the objects of one kind's listing (at start, after a broken watch) as one apply:
    one transaction and a bounded number of statements and messages, whatever their number.
    When any of them is invalid, foreign or refused, they go one by one through ``mirror``,
    so each refusal is reported on its own object and the others apply. Returns the action
    of each, by name."""
    if len(objs) < 2:
        return {obj["metadata"]["name"]: mirror(api, obj) for obj in objs}
    kind, namespace = objs[0]["kind"], objs[0]["metadata"]["namespace"]
    names = [obj["metadata"]["name"] for obj in objs]
    try:
        documents = parse_objects([manifest_of(obj) for obj in objs])
        if any(not is_mirrored(resource) for resource in KINDS[kind].objects.filter(name__in=names)):
            raise LookupError("a resource of that name was not mirrored")
        outcomes = operations.apply_as(principal(namespace), documents)
    except (ManifestInvalid, DomainError, LookupError):
        return {obj["metadata"]["name"]: mirror(api, obj) for obj in objs}
    resources = {resource.name: resource for resource in KINDS[kind].objects.filter(name__in=names)}
    for obj in objs:
        patch_status(api, obj, desired_status(resources[obj["metadata"]["name"]], obj.get("status") or {}))
    logger.info("%d %s objects mirrored from namespace %s at once", len(objs), kind, namespace)
    return {outcome.name: outcome.action for outcome in outcomes}


def _describe(invalid: ManifestInvalid) -> str:
    """Every error as ``field: message [rule]``: the object holds one manifest, so no document number."""
    return "; ".join(f"{error.field}: {error.message} [{error.rule}]" for error in invalid.errors)


def forget(kind: str, name: str, namespace: str) -> bool:
    """The object is gone: delete the resource mirrored from it (not one applied elsewhere)."""
    resource = KINDS[kind].objects.filter(name=name).first()
    if resource is None or not is_mirrored(resource) or resource.deletion_requested_at is not None:
        return False
    operations.delete(principal(namespace), resource)
    logger.info("%s/%s deleted: its object in namespace %s is gone", kind.lower(), name, namespace)
    return True


def sweep(kind: str, present: set[str], namespace: str) -> list[str]:
    """Delete mirrored resources of ``kind`` whose object is not in ``present`` (the objects
    listed at start, or after a broken watch): their DELETED event was missed."""
    gone = [
        resource.name
        for resource in KINDS[kind].objects.filter(deletion_requested_at__isnull=True)
        if is_mirrored(resource) and resource.name not in present
    ]
    return [name for name in gone if forget(kind, name, namespace)]
