"""Writing a resource's status columns only when they changed.

A reconcile pass over a converged resource decides the same status again;
writing it would cost an UPDATE, a live notice to every page watching the
resource and a status write to its Kubernetes object (the save signals), and
on SQLite it would hold the one write lock that every other pass waits for.
So the writer remembers the columns as the pass read them (and as it last
saved them) and saves only what differs.

``reconciled_at`` moves with any other change, never alone: it is the time
of the last pass that changed something (nothing shows it; heartbeat health
falls back on it only for an agent with no instance start and no report).
A status changed by someone else since the pass read it (the sweeper) is
left as that writer made it when the pass decided nothing new.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

# Columns that change on every pass and are written only along with a real change.
STAMP_FIELDS = frozenset({"reconciled_at", "updated_at"})


def _frozen(value: Any) -> Any:
    # Conditions and other JSON columns are edited in place: compare their text.
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, list | dict) else value


class StatusWriter:
    """Saves the ``fields`` of rows it has seen only when they changed since then."""

    def __init__(self, fields: list[str]):
        self.fields = fields
        self._seen: dict[int, dict[str, Any]] = {}

    def remember(self, row: models.Model) -> None:
        """Take ``row``'s status as stored (it was just read, or just saved)."""
        self._seen[row.pk] = {name: _frozen(getattr(row, name)) for name in self.fields}

    def changed(self, row: models.Model) -> list[str]:
        """The status columns that differ from what is stored (all of them for a row not seen)."""
        seen = self._seen.get(row.pk)
        if seen is None:
            return list(self.fields)
        return [name for name in self.fields if name not in STAMP_FIELDS and seen[name] != _frozen(getattr(row, name))]

    def save(self, row: models.Model) -> bool:
        """Save the status when it changed; return whether it saved."""
        if not self.changed(row):
            return False
        row.save(update_fields=self.fields)
        self.remember(row)
        return True
