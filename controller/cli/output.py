"""Rendering for the ``hiclaw`` CLI: kubectl-style tables, manifests as YAML, API JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

COLUMN_GAP = "   "
NONE = "<none>"
MANIFEST_METADATA = ("name", "labels", "annotations")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns, at least three spaces apart, upper-case headers (as kubectl prints)."""
    cells = [[header.upper() for header in headers]]
    cells += [[NONE if value in (None, "") else str(value) for value in row] for row in rows]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]
    lines = [COLUMN_GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def manifest(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as a manifest to apply back: no status, no server-kept metadata, no flat fields."""
    metadata = resource.get("metadata") or {}
    kept = {key: metadata[key] for key in MANIFEST_METADATA if metadata.get(key)}
    return {"apiVersion": resource["apiVersion"], "kind": resource["kind"], "metadata": kept, "spec": resource["spec"]}


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.dump_all(
        documents, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    ).rstrip("\n")


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class _ManifestDumper(yaml.SafeDumper):
    """Writes multi-line text (souls, agent instructions) as ``|`` blocks people can read and edit."""


# PyYAML quotes what it would itself read as another type (true, on, 1.4, 0755, null); these
# it reads as text but YAML 1.1 readers elsewhere (Go's yaml.v2, older kubectl) take for booleans.
BOOLEAN_ELSEWHERE = frozenset({"y", "n"})


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        style: str | None = "|"
    elif value.lower() in BOOLEAN_ELSEWHERE:
        style = "'"  # the quote PyYAML uses for every other ambiguous string
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _text)


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """Time since an ISO-8601 timestamp in kubectl's short form (``45s``, ``12m``, ``3h``, ``5d``)."""
    if not timestamp:
        return NONE
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return duration(((now or datetime.now(UTC)) - then).total_seconds())


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
