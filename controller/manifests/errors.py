"""Errors found in manifests, each naming its document, field path and rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.errors import UNPROCESSABLE, DomainError


@dataclass(frozen=True)
class ManifestError:
    document: int  # 1-based position in the submitted stream
    field: str  # e.g. "spec.workers[1].model"
    rule: str  # e.g. "unknown-field", "required", "enum", "dns_label"
    message: str
    resource: str = ""  # "worker/alice" when the document got that far

    def __str__(self) -> str:
        where = f"document {self.document}" + (f" ({self.resource})" if self.resource else "")
        return f"{where}: {self.field}: {self.message} [{self.rule}]"

    def as_dict(self) -> dict[str, object]:
        return {
            "document": self.document,
            "resource": self.resource,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
        }


class ManifestInvalid(DomainError):
    """422, raised with every error found; nothing was changed. ``field`` is the first one's."""

    status = UNPROCESSABLE

    def __init__(self, errors: list[ManifestError]):
        self.errors = errors
        self.field = errors[0].field if errors else ""
        super().__init__("\n".join(str(error) for error in errors))

    def describe(self) -> str:
        first = self.errors[0]
        return str(first) if len(self.errors) == 1 else f"{len(self.errors)} errors; first: {first}"

    def messages(self) -> list[str]:
        return [str(error) for error in self.errors]

    def details(self) -> dict[str, Any]:
        return {"errors": [error.as_dict() for error in self.errors]}
