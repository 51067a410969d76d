"""What a caller (agent, CLI user, dashboard user, operator) asks of the controller, authorized.

Each operation checks the policy, changes desired state through the apply
path, and writes an audit record. Views, dashboard actions, the Django admin's
saves and ``manage.py hiclaw_apply`` (as an admin named after the OS user)
call these; none of them decides authorization on its own, so every path
leaves the same audit trail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import QuerySet

from controller import policy
from controller.manifests import Document, ManifestError, ManifestInvalid, parse_objects
from controller.manifests.members import with_member_changed
from controller.models import (
    API_VERSION,
    KINDS,
    TEAM_ANNOTATION,
    AgentPhase,
    AuditRecord,
    DesiredState,
    Resource,
    Team,
    Upgrade,
    UpgradeTarget,
    Worker,
)
from controller.policy import Principal
from controller.reconcile_queue import send_after_commit
from controller.services.apply import Outcome, apply_documents, apply_patch, change_team_spec
from controller.services.lifecycle import request_deletion, set_desired_state

_R = TypeVar("_R", bound=Resource)
PUSH_TASK = "controller.tasks.run_push"  # controller/reconcilers/pushes.py carries a push out


def audit(principal: Principal, action: str, kind: str, name: str, **detail: Any) -> None:
    _audit_record(principal, action, kind, name, **detail).save()


def _audit_record(principal: Principal, action: str, kind: str, name: str, **detail: Any) -> AuditRecord:
    return AuditRecord(
        actor=principal.name,
        identity=principal.identity,
        team=principal.team,
        action=action,
        target_kind=kind,
        target_name=name,
        detail=detail,
    )


# --- manifests -------------------------------------------------------------------------
def apply_as(principal: Principal, documents: list[Document], *, dry_run: bool = False) -> list[Outcome]:
    """Authorize each document as ``principal``, then apply them all or none, with an audit
    record per change. The stored rows are read in one query per kind, whatever the count."""
    stored = _stored(documents)
    shown = _visible_to(principal, stored)
    for document in documents:
        existing = stored.get((document.kind, document.name))
        hidden = existing is not None and existing.pk not in shown[document.kind]
        # Another team's resource is judged as if it did not exist, so the answer tells nothing of it.
        known = None if hidden else existing
        action = policy.UPDATE if known else policy.CREATE
        policy.authorize(principal, action, document.kind, document.name, team=_document_team(document, known))
        if hidden:
            raise name_taken(document)
        if document.kind == "DebugWorker":
            # What it will mirror, beyond the stored row's team that ``authorize`` checked.
            policy.authorize_debug_targets(principal, document.spec, document.annotations)
    with transaction.atomic():
        outcomes = apply_documents(documents, dry_run=dry_run)
        if not dry_run:
            changes = [outcome for outcome in outcomes if outcome.action != "unchanged"]
            AuditRecord.objects.bulk_create(
                (_audit_record(principal, f"apply:{o.action}", o.kind, o.name) for o in changes), batch_size=500
            )
    return outcomes


def _stored(documents: list[Document]) -> dict[tuple[str, str], Resource]:
    """The stored rows the documents name, by (kind, name): one query per kind."""
    names: dict[str, list[str]] = {}
    for document in documents:
        names.setdefault(document.kind, []).append(document.name)
    stored: dict[tuple[str, str], Resource] = {}
    for kind, wanted in names.items():
        rows: QuerySet[Resource] = KINDS[kind].objects.filter(name__in=wanted)
        if kind == "Worker":
            rows = Worker.objects.filter(name__in=wanted).select_related("team")  # its team decides who may change it
        stored.update(((kind, row.name), row) for row in rows)
    return stored


def _visible_to(principal: Principal, stored: dict[tuple[str, str], Resource]) -> dict[str, set[int]]:
    """The ids of the ``stored`` rows ``principal`` may see, by kind: one query per kind."""
    ids: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for (kind, _), row in stored.items():
        ids[kind].append(row.pk)
    return {
        kind: set(policy.visible(principal, KINDS[kind].objects.filter(pk__in=pks)).values_list("pk", flat=True))
        if pks
        else set()
        for kind, pks in ids.items()
    }


def name_taken(document: Document) -> ManifestInvalid:
    """A create under a name another team's resource holds: names are unique across teams, so
    it must fail; the message says so without saying whose it is."""
    message = f"the name {document.name!r} is taken; choose another name"
    return ManifestInvalid([ManifestError(document.index, "metadata.name", "name-taken", message, document.resource)])


def _document_team(document: Document, existing: Resource | None) -> str:
    if existing is not None:
        return policy.team_of(existing)
    if document.kind == "Team":
        return document.name
    target = document.spec.get("target") or {}
    if document.kind == "DebugWorker" and target.get("type") == "team":
        return target["name"]
    return document.annotations.get(TEAM_ANNOTATION, "")


# --- workers ---------------------------------------------------------------------------
def create_worker(principal: Principal, name: str, spec: dict[str, Any], *, team: str = "") -> Outcome:
    """A standalone worker, or a new member of ``team`` (held to the team's permissions)."""
    policy.authorize(principal, policy.CREATE, "Worker", name, team=team)
    if not team:
        manifest = {"apiVersion": API_VERSION, "kind": "Worker", "metadata": {"name": name}, "spec": spec}
        outcome = apply_documents(parse_objects([manifest]))[0]
    else:

        def add_member(fresh: Team) -> dict:
            policy.check_member_quota(principal, fresh, adding=True, model=spec.get("model", ""))
            return {**fresh.spec, "workers": [*fresh.spec.get("workers", []), {"name": name, **spec}]}

        change_team_spec(_team(team), add_member)
        outcome = Outcome("Worker", name, "created")
    audit(principal, "create", "Worker", name, team=team)
    return outcome


def update_worker(principal: Principal, worker: Worker, changes: dict[str, Any]) -> Outcome:
    """Change spec fields of a worker; a member's change goes into its Team's spec."""
    team = policy.team_of(worker)
    policy.authorize(principal, policy.UPDATE, "Worker", worker.name, team=team)
    team_row = worker.team
    if team_row is None:
        outcome = apply_patch(worker, {**worker.spec, **changes})
    else:
        new_model = changes.get("model", worker.model)

        def change_member(fresh: Team) -> dict:
            policy.check_member_quota(principal, fresh, adding=False, model=new_model, old_model=worker.model)
            return with_member_changed(fresh.spec, worker.name, changes)

        change_team_spec(team_row, change_member)
        outcome = Outcome("Worker", worker.name, "configured")
    before = {field: getattr(worker, field, "") for field in changes}
    diff = {field: [before[field], value] for field, value in changes.items() if before[field] != value}
    audit(principal, "update", "Worker", worker.name, fields=sorted(changes), changes=diff)
    return outcome


def set_state(principal: Principal, worker: Worker, state: str) -> Outcome:
    policy.authorize(principal, policy.LIFECYCLE, "Worker", worker.name, team=policy.team_of(worker))
    was = worker.state
    outcome = set_desired_state(worker, state)
    audit(principal, f"state:{state}", "Worker", worker.name, changes={"state": [was, state]} if was != state else {})
    return outcome


@dataclass(frozen=True)
class Readiness:
    """Where a worker stood when ``ensure_ready`` stopped waiting."""

    phase: str  # "" when the worker was removed meanwhile
    message: str

    @property
    def ready(self) -> bool:
        return self.phase == AgentPhase.RUNNING

    @property
    def removed(self) -> bool:
        return not self.phase


# A wake takes a fraction of a second (a container start); a coarser poll would add most of
# a period to every ensure-ready, and one indexed row read per poll costs little.
POLL_SECONDS = 0.05


def ensure_ready(principal: Principal, worker: Worker, timeout: float) -> Readiness:
    """Wake ``worker`` unless it is meant to run already (which still takes the right to wake
    it), then wait up to ``timeout`` seconds for its reconcile to report it Running."""
    if worker.state != DesiredState.RUNNING:
        set_state(principal, worker, DesiredState.RUNNING)
    else:
        policy.authorize(principal, policy.LIFECYCLE, "Worker", worker.name, team=policy.team_of(worker))
    deadline = time.monotonic() + timeout
    while True:
        row = Worker.objects.filter(pk=worker.pk).values_list("phase", "message").first()
        readiness = Readiness(*row) if row else Readiness("", "")
        if readiness.ready or readiness.removed or time.monotonic() >= deadline:
            return readiness
        time.sleep(POLL_SECONDS)  # the reconcile runs in a Celery worker; poll its result


# --- any kind --------------------------------------------------------------------------
def delete(principal: Principal, resource: Resource) -> None:
    team = policy.team_of(resource)
    policy.authorize(principal, policy.DELETE, resource.kind, resource.name, team=team)
    if isinstance(resource, Worker) and resource.team is not None:
        team_row = resource.team
        if team_row.typed_spec.leader.name == resource.name:
            raise policy.Denied(f"worker/{resource.name} leads team/{team_row.name}; delete the Team instead")
        change_team_spec(
            team_row,
            lambda fresh: {**fresh.spec, "workers": [m for m in fresh.spec["workers"] if m["name"] != resource.name]},
        )
    else:
        request_deletion(resource)
    audit(principal, "delete", resource.kind, resource.name)


def request_push(principal: Principal, *, worker: str = "", team: str = "", everything: bool = False) -> Upgrade:
    """Record a config/skills push (an ``Upgrade`` of kind push) and its targets.

    A worker or team the caller may not see is ``policy.NotFound``, as a missing one.
    """
    if everything:
        if principal.identity not in policy.ALL_POWERFUL:
            raise policy.Denied(f"{principal.identity} {principal.name} may not push to every worker")
        targets = list(Worker.objects.filter(deletion_requested_at__isnull=True).values_list("name", flat=True))
        scope, target, team_name = Upgrade.Scope.ALL, "", ""
    elif team:
        team_row = _visible(principal, Team, team, "team")
        policy.authorize(principal, policy.UPDATE, "Worker", f"(team {team})", team=team_row.name)
        targets = list(Worker.objects.filter(team=team_row).values_list("name", flat=True))
        scope, target, team_name = Upgrade.Scope.TEAM, team, team_row.name
    else:
        row = _visible(principal, Worker, worker, "worker")
        policy.authorize(principal, policy.UPDATE, "Worker", worker, team=policy.team_of(row))
        targets, scope, target, team_name = [worker], Upgrade.Scope.WORKER, worker, policy.team_of(row)
    with transaction.atomic():
        push = Upgrade.objects.create(
            kind=Upgrade.Kind.PUSH, requested_by=str(principal), scope=scope, target=target, team=team_name
        )
        UpgradeTarget.objects.bulk_create(
            UpgradeTarget(upgrade=push, worker=name, position=index) for index, name in enumerate(sorted(targets))
        )
        audit(principal, "config-push", "Worker", target or "*", push=push.pk)
        send_after_commit(PUSH_TASK, push.pk)
    return push


def _visible(principal: Principal, model: type[_R], name: str, field: str) -> _R:
    row = policy.visible(principal, model.objects.filter(name=name, deletion_requested_at__isnull=True)).first()
    if row is None:
        raise policy.NotFound(model.kind, name, field)
    return row


def _team(name: str) -> Team:
    team = Team.objects.filter(name=name, deletion_requested_at__isnull=True).first()
    if team is None:
        raise policy.NotFound("Team", name, "team")
    return team
