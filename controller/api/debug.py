"""Creating a DebugWorker through the API (``POST /api/v1/debugworkers``).

The spec is built by ``controller.services.debugworkers`` (shared with the
dashboard); here its field errors become 400 answers naming the field.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError

from controller import policy
from controller.services import debugworkers


def debugworker_spec(principal: policy.Principal, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The spec and annotations of a new DebugWorker asked for by ``principal``."""
    try:
        return debugworkers.debugworker_spec(principal, body)
    except debugworkers.InvalidDebugRequest as error:
        raise ValidationError({error.field: error.message}) from None
