"""Domain errors: one meaning on every path.

Every refusal the domain raises carries the HTTP status it means and the
request field at fault, when one is. The API's exception handler, the
dashboard's actions and the Django admin's forms read these instead of keeping
mappings of their own, so a new error class cannot be answered one way by the
API and another by the dashboard. The rule: what the caller may not see looks
like what does not exist (404); in scope but forbidden is 403; a quota or an
invalid manifest is 422; a conflict with the stored state is 409; a malformed
request field is 400.
"""

from __future__ import annotations

from typing import Any, ClassVar

BAD_REQUEST, FORBIDDEN, NOT_FOUND, CONFLICT, UNPROCESSABLE = 400, 403, 404, 409, 422


class DomainError(Exception):
    """A refusal of the domain: ``status`` is what it means over HTTP, ``field`` the request
    field at fault ("" for none)."""

    status: ClassVar[int] = BAD_REQUEST
    field: str = ""

    def describe(self) -> str:
        """The refusal in words, the field at fault first."""
        text = str(self)
        return f"{self.field}: {text}" if self.field and not text.startswith(f"{self.field}:") else text

    def messages(self) -> list[str]:
        """Every problem in words, for a form that lists them all."""
        return [self.describe()]

    def details(self) -> dict[str, Any]:
        """What an API answer carries besides message and field."""
        return {}
