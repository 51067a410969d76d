"""YAML manifests <-> validated documents <-> exported manifests.

``parse`` turns a YAML stream (one or many documents) into ``Document``s with
their specs normalised (defaults filled in), or raises ``ManifestInvalid``
listing every error. ``to_manifest`` is the inverse: applying its output back
changes nothing.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from controller.manifests.bounds import TOO_DEEP, load_all, too_deep
from controller.manifests.errors import ManifestError, ManifestInvalid
from controller.manifests.schema import SPEC_SHAPES, Metadata
from controller.models.base import API_VERSION, Resource

ENVELOPE_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")

# pydantic's error types, renamed to the rule a manifest author understands.
_RULES = {
    "extra_forbidden": "unknown-field",
    "missing": "required",
    "literal_error": "enum",
    "greater_than_equal": "range",
    "less_than_equal": "range",
    "string_too_long": "max-length",
}


@dataclass
class Document:
    index: int
    kind: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    spec: dict[str, Any]
    # Secret values accepted on apply but kept out of the spec (never exported).
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def resource(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


def parse(text: str) -> list[Document]:
    """Validate a YAML stream; raise ``ManifestInvalid`` with every error found.

    Aliases and deep nesting are refused while reading (``bounds``), so nothing
    below walks more nodes than the text holds.
    """
    try:
        raw_documents = [doc for doc in load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the stream"
        problem = getattr(exc, "problem", None) or str(exc)
        rule = getattr(exc, "rule", "yaml-syntax")
        raise ManifestInvalid([ManifestError(1, "(yaml)", rule, f"invalid YAML at {where}: {problem}")]) from None
    if not raw_documents:
        raise ManifestInvalid([ManifestError(1, "(document)", "required", "no manifest documents were given")])
    return parse_objects(raw_documents)


def parse_objects(raw_documents: list[Any]) -> list[Document]:
    """Validate already-decoded manifests (e.g. a JSON request body)."""
    documents, errors = [], []
    for index, raw in enumerate(raw_documents, start=1):
        document, document_errors = _parse_one(index, raw)
        errors.extend(document_errors)
        if document is not None:
            documents.append(document)
    seen: dict[tuple[str, str], int] = {}
    for document in documents:
        key = (document.kind, document.name)
        if key in seen:
            errors.append(
                ManifestError(
                    document.index,
                    "metadata.name",
                    "duplicate",
                    f"{document.resource} is also defined in document {seen[key]}; define it once",
                    document.resource,
                )
            )
        seen.setdefault(key, document.index)
    if errors:
        raise ManifestInvalid(errors)
    return documents


def _parse_one(index: int, raw: Any) -> tuple[Document | None, list[ManifestError]]:
    errors = _envelope_errors(index, raw)
    if errors is not None:
        return None, errors
    allowed = ", ".join(ENVELOPE_FIELDS)
    errors = [
        ManifestError(
            index,
            str(key) if key else repr(key),
            "unknown-field",
            f"unknown top-level field {key!r}; allowed: {allowed}",
        )
        for key in raw
        if key not in ENVELOPE_FIELDS
    ]
    if raw.get("apiVersion") != API_VERSION:
        errors.append(
            ManifestError(index, "apiVersion", "enum", f"must be {API_VERSION!r}, got {raw.get('apiVersion')!r}")
        )
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in SPEC_SHAPES:
        errors.append(ManifestError(index, "kind", "enum", f"must be one of {', '.join(SPEC_SHAPES)}, got {kind!r}"))
        return None, errors

    try:
        metadata = Metadata.model_validate(raw.get("metadata"))
    except ValidationError as exc:
        return None, errors + _from_pydantic(exc, index, "metadata", Metadata, "")
    resource = f"{kind.lower()}/{metadata.name}"
    errors = [ManifestError(e.document, e.field, e.rule, e.message, resource) for e in errors]

    shape = SPEC_SHAPES[kind]
    try:
        spec = shape.model_validate(raw.get("spec"))
    except ValidationError as exc:
        return None, errors + _from_pydantic(exc, index, "spec", shape, resource)
    if errors:
        return None, errors
    return _document(index, kind, metadata, spec.manifest()), []


def _envelope_errors(index: int, raw: Any) -> list[ManifestError] | None:
    """What makes a document unreadable before its fields are looked at; None when nothing does."""
    if not isinstance(raw, dict):
        return [ManifestError(index, "(document)", "type", f"a manifest must be a mapping, got {type(raw).__name__}")]
    deep = too_deep(raw)
    if deep is not None:
        return [ManifestError(index, deep, "too-deep", TOO_DEEP)]
    nul = nul_path(raw)
    if nul is not None:
        # PostgreSQL text and jsonb cannot hold NUL; YAML's "\0" escape and JSON's "\u0000" both make one.
        return [ManifestError(index, nul, "nul-character", "must not contain NUL characters (\\x00)")]
    return None


def _document(index: int, kind: str, metadata: Metadata, spec: dict[str, Any]) -> Document:
    """The validated document; a DebugWorker's Matrix access token moves from the spec to its secrets."""
    secrets = {}
    credential = spec.get("matrixCredential")
    if credential and "accessToken" in credential:
        secrets["matrix_access_token"] = credential.pop("accessToken")
    return Document(
        index=index,
        kind=kind,
        name=metadata.name,
        labels=metadata.labels or {},
        annotations=metadata.annotations or {},
        spec=spec,
        secrets=secrets,
    )


def nul_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string in ``value`` holding a NUL character, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        children = [(f"{path}.{key}" if path else str(key), key, item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", "", item) for index, item in enumerate(value)]
    else:
        return None
    for child_path, key, item in children:
        if isinstance(key, str) and "\x00" in key:
            return child_path
        found = nul_path(item, child_path)
        if found is not None:
            return found
    return None


def _from_pydantic(
    exc: ValidationError, index: int, root: str, shape: type[BaseModel], resource: str
) -> list[ManifestError]:
    errors = []
    for item in exc.errors(include_url=False):
        loc = list(item["loc"])
        context = item.get("ctx") or {}
        if "field" in context:
            loc.extend(_split_path(context["field"]))
        path = _format_path(root, loc)
        rule = _RULES.get(item["type"], item["type"])
        if item["type"] == "extra_forbidden":
            allowed = _allowed_fields(shape, loc[:-1])
            message = f"unknown field {loc[-1]!r}" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        elif item["type"] == "missing":
            message = "required field is missing"
        elif item["type"] in ("model_type", "model_attributes_type") and item.get("input") is None:
            message = "required; give a mapping"
            rule = "required"
        elif item["type"] == "string_too_long":
            message = f"must be at most {context['max_length']} characters (got {len(item['input'])})"
        elif item["type"].endswith("_type") or rule in ("enum", "range"):
            message = f"{item['msg'].replace('Input should', 'must')} (got {item['input']!r})"
        else:
            message = item["msg"]
        errors.append(ManifestError(index, path, rule, message, resource))
    return errors


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        parts.append(name)
        if rest:
            parts.append(int(rest.rstrip("]")))
    return parts


def _format_path(root: str, loc: list[Any]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _allowed_fields(shape: type[BaseModel], loc: list[Any]) -> list[str]:
    """The camelCase fields of the model found at ``loc`` inside ``shape``."""
    current: Any = shape
    for part in loc:
        if isinstance(part, int):
            continue
        model = _model_of(current)
        if model is None:
            return []
        info = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if info is None:
            return []
        current = info.annotation
    model = _model_of(current)
    return [info.alias or name for name, info in model.model_fields.items()] if model else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """Unwrap Optional[...] / list[...] down to a pydantic model, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) in (typing.Union, list):
        for arg in typing.get_args(annotation):
            model = _model_of(arg)
            if model is not None:
                return model
    return None


def to_manifest(resource: Resource, *, with_status: bool = False) -> dict[str, Any]:
    """The resource as a manifest; applying it back changes nothing."""
    metadata: dict[str, Any] = {"name": resource.name}
    if resource.labels:
        metadata["labels"] = resource.labels
    if resource.annotations:
        metadata["annotations"] = resource.annotations
    if with_status:
        metadata["generation"] = resource.generation
        metadata["creationTimestamp"] = resource.created_at.isoformat()
    manifest = {"apiVersion": API_VERSION, "kind": resource.kind, "metadata": metadata, "spec": resource.spec}
    if with_status:
        manifest["status"] = resource.status_manifest()
    return manifest


class _NoAliasDumper(yaml.SafeDumper):
    """Writes an object met twice in full: manifests refuse aliases, so an export must not use them."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(manifests: list[dict[str, Any]]) -> str:
    return yaml.dump_all(
        manifests, Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
