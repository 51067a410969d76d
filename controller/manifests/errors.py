"""Errors found in manifests, each naming its document, field path and rule."""

from __future__ import annotations

from dataclasses import dataclass


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


class ManifestInvalid(Exception):
    """Raised with every error found; nothing was changed."""

    def __init__(self, errors: list[ManifestError]):
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))
