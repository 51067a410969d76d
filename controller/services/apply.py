"""Apply manifests: write desired state, all documents or none, then queue reconciles.

Nothing here talks to an external system. The rows the documents name are locked and read
in one query per kind, each document is checked and applied to them in memory, in order,
and only when every one was accepted are they written, with bulk statements
(``controller.services.apply_rows``). Every changed resource gets a reconcile queued after
the transaction commits, a bounded number of broker messages per kind
(``reconcile_queue.request_reconciles``), and live pages get one notice for the whole apply
(``live.coalesced``). A dry run goes through the same checks and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from controller import policy
from controller.manifests import Document, ManifestError, ManifestInvalid, parse, parse_objects
from controller.manifests.members import member_specs
from controller.models import KINDS, ROLE_ANNOTATION, TEAM_ANNOTATION, DebugWorker, Resource, Team, Worker
from controller.services import live
from controller.services.apply_rows import ApplyRows

_R = TypeVar("_R", bound=Resource)

CREATED, CONFIGURED, UNCHANGED = "created", "configured", "unchanged"


@dataclass(frozen=True)
class Outcome:
    kind: str
    name: str
    action: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} {self.action}"


class Refused(Exception):
    """A document is valid on its own but conflicts with what is stored."""

    def __init__(self, field: str, rule: str, message: str):
        self.field, self.rule, self.message = field, rule, message
        super().__init__(message)


def apply_text(text: str, *, dry_run: bool = False) -> list[Outcome]:
    return apply_documents(parse(text), dry_run=dry_run)


def apply_patch(resource: Resource, spec: dict, *, dry_run: bool = False) -> Outcome:
    """Apply ``resource`` with a new spec, validated exactly like a submitted manifest."""
    manifest = {
        "apiVersion": "hiclaw.io/v1beta1",
        "kind": resource.kind,
        "metadata": {"name": resource.name, "labels": resource.labels, "annotations": resource.annotations},
        "spec": spec,
    }
    return apply_documents(parse_objects([manifest]), dry_run=dry_run)[0]


def change_team_spec(team: Team, change: Callable[[Team], dict]) -> Outcome:
    """Apply the spec ``change`` makes of the Team as stored now. The row is read again and
    locked for the change, so two changes to one team's members (two workers put to sleep
    at once, a bulk action) never undo each other, and what ``change`` checks (a quota)
    sees the spec it extends. ``change`` returns a new spec; it must not edit the row's."""
    with transaction.atomic():
        fresh = Team.objects.select_for_update().get(pk=team.pk)
        return apply_patch(fresh, change(fresh))


def apply_documents(documents: list[Document], *, dry_run: bool = False) -> list[Outcome]:
    """Apply every document or none; raise ``ManifestInvalid`` listing each conflict."""
    outcomes, errors = [], []
    with transaction.atomic(), live.coalesced():
        rows = ApplyRows.locked_for(documents)
        for document in documents:
            try:
                action = _APPLIERS[document.kind](rows, document)
                outcomes.append(Outcome(document.kind, document.name, action))
            except Refused as refusal:
                errors.append(
                    ManifestError(document.index, refusal.field, refusal.rule, refusal.message, document.resource)
                )
        if not (errors or dry_run):
            rows.flush()
    if errors:
        raise ManifestInvalid(errors)
    return outcomes


# --- per kind ---------------------------------------------------------------------------
def _apply_worker(rows: ApplyRows, document: Document) -> str:
    existing: Worker | None = rows.get(Worker, document.name)
    if existing is not None and existing.team is not None:
        # A member's spec is derived from its Team; an unchanged export of it
        # applies as a no-op, anything else must go through the Team.
        if existing.spec == document.spec and document.annotations == existing.annotations:
            return UNCHANGED
        team = existing.team.name
        raise Refused(
            "spec",
            "team-member",
            f"worker/{document.name} is a member of team/{team}; change it in that Team's spec "
            f"(spec.leader or spec.workers) instead",
        )
    if TEAM_ANNOTATION in document.annotations:
        raise Refused(
            f"metadata.annotations.{TEAM_ANNOTATION}",
            "team-member",
            "team membership is set by listing the worker in a Team's spec.workers, not by this annotation",
        )
    return _upsert(rows, Worker, document)


def _apply_team(rows: ApplyRows, document: Document) -> str:
    action = _upsert(rows, Team, document)
    members_changed = _sync_members(rows, rows.get(Team, document.name), document)
    return CONFIGURED if action == UNCHANGED and members_changed else action


def _apply_debugworker(rows: ApplyRows, document: Document) -> str:
    try:
        # Whoever applies: the team it debugs and the workers it mirrors must agree.
        policy.check_debug_targets(document.spec, document.annotations)
    except policy.TargetsDisagree as disagreement:
        raise Refused(disagreement.field, "debug-scope", disagreement.message) from None
    token = document.secrets.get("matrix_access_token")

    def keep_token(resource: DebugWorker) -> bool:
        # An export carries no token, so an absent token keeps the stored one.
        if token is None or token == resource.matrix_access_token:
            return False
        resource.matrix_access_token = token
        return True

    return _upsert(rows, DebugWorker, document, extra=keep_token)


def _apply_plain(model: type[Resource]) -> Callable[[ApplyRows, Document], str]:
    return lambda rows, document: _upsert(rows, model, document)


_APPLIERS: dict[str, Callable[[ApplyRows, Document], str]] = {
    "Worker": _apply_worker,
    "Team": _apply_team,
    "DebugWorker": _apply_debugworker,
    "Human": _apply_plain(KINDS["Human"]),
    "Manager": _apply_plain(KINDS["Manager"]),
}


# --- shared steps -----------------------------------------------------------------------
def _upsert(
    rows: ApplyRows,
    model: type[_R],
    document: Document,
    extra: Callable[[_R], bool] | None = None,
) -> str:
    existing: _R | None = rows.get(model, document.name)
    if existing is not None and existing.deletion_requested_at is not None:
        raise Refused(
            "metadata.name", "deleting", f"{document.resource} is being deleted; apply it again once it is gone"
        )
    resource = existing or model(name=document.name)
    metadata_changed = (resource.labels, resource.annotations) != (document.labels, document.annotations)
    resource.labels, resource.annotations = document.labels, document.annotations
    changed = resource.set_spec(document.spec)
    if extra is not None and extra(resource) and existing is not None and not changed:
        resource.generation += 1  # a new secret is a spec change too
        changed = True
    if existing is None:
        resource.index_spec()
        rows.create(resource)
        return CREATED
    if changed or metadata_changed:
        resource.index_spec()
        rows.update(resource)
        return CONFIGURED
    return UNCHANGED


def _sync_members(rows: ApplyRows, team: Team, document: Document) -> bool:
    """Make the Team's Worker rows match its spec. Returns whether any changed."""
    current = dict(rows.members_of(team))
    changed = False
    for member in member_specs(document.spec):
        worker: Worker | None = rows.get(Worker, member.name)
        if worker is not None and member.name not in current:
            owner = worker.team
            holder = f"a member of team/{owner.name}" if owner else "a standalone worker"
            raise Refused(
                member.field, "name-taken", f"worker name {member.name!r} is taken by {holder}; choose another name"
            )
        current.pop(member.name, None)
        is_new = worker is None
        worker = worker or Worker(name=member.name, team=team)
        annotations = {TEAM_ANNOTATION: team.name, ROLE_ANNOTATION: member.role}
        if not is_new and worker.role != member.role:
            # A leader re-applied as a worker (or the reverse) keeps none of its old powers.
            rows.revoke(worker.name)
        dirty = worker.set_spec(member.spec) | (worker.role != member.role) | (worker.annotations != annotations)
        dirty |= worker.deletion_requested_at is not None  # re-added while being removed
        if is_new or dirty:
            worker.role, worker.annotations, worker.deletion_requested_at = member.role, annotations, None
            worker.index_spec()
            rows.create(worker) if is_new else rows.update(worker)
            changed = True
    for removed in current.values():
        rows.revoke(removed.name)
        if removed.deletion_requested_at is None:
            removed.deletion_requested_at = timezone.now()
            rows.update(removed)
            changed = True
    if changed:
        # The leader's generated team context lists the members.
        leaders = (w for w in rows.members_of(team).values() if w.role == "team_leader" and not w.deletion_requested_at)
        leader = next(leaders, None)
        if leader is not None:
            rows.reconcile(leader)
    return changed
