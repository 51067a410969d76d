"""The rows one apply reads and writes, in a bounded number of queries whatever its size.

``ApplyRows.locked_for`` locks and reads every row the documents name, one query per kind
(and the Workers of the Teams applied), in name order so two applies lock in the same
order. The appliers (``controller.services.apply``) then change rows in memory only:
``create`` and ``update`` stage them, and the documents applied later in the same stream
see the staged rows as if they were written (a Team's new member is taken when a
standalone Worker of that name comes later). ``flush`` writes everything at once, only when
every document was accepted: ``bulk_create`` and ``bulk_update`` per kind, then what
``Model.save`` would have set off: ``post_save`` for each row (live notices, coalesced by
``live.coalesced``; CRD status writes), ``updated_at``, and one reconcile request per kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar, cast

from django.db import connection
from django.db.models import Field, Q
from django.db.models.signals import post_save
from django.utils import timezone

from controller.manifests import Document
from controller.models import KINDS, AgentToken, DebugWorker, Human, Identity, Manager, Resource, Team, Worker
from controller.reconcile_queue import request_reconciles
from controller.services import live

_T = TypeVar("_T")
# Rows per statement: keeps a ``bulk_update``'s CASE expressions and any ``IN (...)`` list
# short enough for every database (SQLite allows 32766 parameters in one statement).
BATCH = 500
LOCK_CHUNK = 5000
# Teams first: a new member's row refers to its Team's, which must have its id by then.
WRITE_ORDER: tuple[type[Resource], ...] = (Team, Worker, Human, Manager, DebugWorker)


def member_names(document: Document) -> list[str]:
    """The Worker names a Team document lists (its leader and workers)."""
    spec = document.spec
    return [spec["leader"]["name"], *(worker["name"] for worker in spec.get("workers", []))]


class ApplyRows:
    def __init__(self) -> None:
        self.found: dict[type[Resource], dict[str, Resource]] = defaultdict(dict)
        self.members: dict[int, dict[str, Worker]] = defaultdict(dict)  # by id() of the Team object
        self.new: dict[type[Resource], list[Resource]] = defaultdict(list)
        self.dirty: dict[type[Resource], dict[int, Resource]] = defaultdict(dict)  # by id() of the row
        self.before: dict[int, dict[str, Any]] = {}  # column values as read, by id() of the row
        self.reconciles: dict[str, list[str]] = {}  # kind -> names, in the order asked
        self.revoked: list[str] = []  # workers whose agent tokens go

    # --- reading -------------------------------------------------------------------------
    @classmethod
    def locked_for(cls, documents: list[Document]) -> ApplyRows:
        rows = cls()
        names: dict[type[Resource], set[str]] = defaultdict(set)
        for document in documents:
            names[KINDS[document.kind]].add(document.name)
        team_documents = [document for document in documents if document.kind == "Team"]
        for document in team_documents:
            names[Worker].update(member_names(document))
        for model in WRITE_ORDER:
            if model is Worker:
                rows._lock_workers(names[Worker], [team.pk for team in rows.found[Team].values()])
            elif names[model]:
                for chunk in _chunks(sorted(names[model]), LOCK_CHUNK):
                    rows._found(model.objects.select_for_update().filter(name__in=chunk))
        return rows

    def _lock_workers(self, names: set[str], team_ids: list[int]) -> None:
        """The Workers named, and every current member of the Teams applied (a member left out
        of its Team's new spec is removed); each with its Team, read in one more query."""
        if not names:
            return  # no Worker and no Team document
        for index, chunk in enumerate(_chunks(sorted(names), LOCK_CHUNK)):
            wanted = Q(name__in=chunk)
            if index == 0 and team_ids:
                wanted |= Q(team_id__in=team_ids)
            self._found(Worker.objects.select_for_update().filter(wanted))
        teams = {team.pk: team for team in self.found[Team].values()}
        workers = cast(list[Worker], list(self.found[Worker].values()))
        missing = {w.team_id for w in workers if w.team_id is not None} - set(teams)
        teams.update(Team.objects.in_bulk(missing) if missing else {})
        for worker in workers:
            if worker.team_id is not None:
                team = cast(Team, teams[worker.team_id])
                worker.team = team  # cached: refusals and live notices name it without a query
                self.members[id(team)][worker.name] = worker

    def _found(self, queryset: Iterable[Resource]) -> None:
        for row in queryset:
            self.found[type(row)][row.name] = row
            self.before[id(row)] = _columns(row)

    def get(self, model: type[Resource], name: str) -> Any:
        """The row ``name`` of ``model`` as this apply sees it (stored or staged), or None."""
        return self.found[model].get(name)

    def members_of(self, team: Team) -> dict[str, Worker]:
        return self.members[id(team)]

    # --- staging -------------------------------------------------------------------------
    def create(self, row: Resource) -> None:
        self.found[type(row)][row.name] = row
        self.new[type(row)].append(row)
        if isinstance(row, Worker) and row.team is not None:
            self.members[id(row.team)][row.name] = row
        self.reconcile(row)

    def update(self, row: Resource) -> None:
        if id(row) in self.before:  # else staged new: written whole anyway
            self.dirty[type(row)][id(row)] = row
        self.reconcile(row)

    def reconcile(self, row: Resource) -> None:
        self.reconciles.setdefault(row.kind, []).append(row.name)

    def revoke(self, worker: str) -> None:
        self.revoked.append(worker)

    # --- writing -------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the staged rows and queue what their saves would have (see the module doc)."""
        now = timezone.now()
        for model in WRITE_ORDER:
            new, dirty = self.new[model], list(self.dirty[model].values())
            if new:
                model.objects.bulk_create(new, batch_size=BATCH)
            if dirty:
                for row in dirty:
                    row.updated_at = now
                _update(model, dirty, self._changed_fields(dirty))
            for row, created in [*((row, True) for row in new), *((row, False) for row in dirty)]:
                row._state.adding = False
                post_save.send(model, instance=row, created=created, update_fields=None, raw=False, using=row._state.db)
                if isinstance(row, Team):
                    live.team_changed(row.name)
        for chunk in _chunks(self.revoked, LOCK_CHUNK):
            AgentToken.objects.revoke_agents(Identity.WORKER, chunk)
        for kind, names in self.reconciles.items():
            request_reconciles(kind, names)

    def _changed_fields(self, rows: list[Resource]) -> list[str]:
        """The columns any of ``rows`` changed since it was read: what ``bulk_update`` writes."""
        changed = {"updated_at"}
        for row in rows:
            before = self.before[id(row)]
            changed.update(name for name, value in _columns(row).items() if before[name] != value)
        return sorted(changed)


def _update(model: type[Resource], rows: list[Resource], fields: list[str]) -> None:
    """Write ``fields`` of ``rows``: one UPDATE by primary key, sent for all rows at once
    (``executemany``: one prepared statement, pipelined by psycopg). Django's ``bulk_update``
    builds a CASE expression per row and field in Python, which costs more than the apply."""
    meta = model._meta
    columns = [cast(Field, meta.get_field(name)) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in columns)
    # Only the model's own table and column names, quoted, go into the text; values are parameters.
    table, key = quote(meta.db_table), quote(str(meta.pk.column))
    sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608
    params = [
        [*(field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns), row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        for chunk in _chunks(params, BATCH):
            cursor.executemany(sql, chunk)


def _columns(row: Resource) -> dict[str, Any]:
    """The row's column values by field name (a foreign key by its id)."""
    return {field.name: getattr(row, field.attname) for field in row._meta.concrete_fields if not field.primary_key}


def _chunks(names: list[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(names), size):
        yield names[start : start + size]
