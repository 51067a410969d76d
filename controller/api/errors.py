"""Error bodies the original HiClaw server and CLI understand.

The original server wrote ``message`` and its CLI reads ``error``; both carry
the same text, plus ``field`` when one field is at fault. Domain exceptions
map to statuses here: policy refusals 403, quotas and invalid manifests 422,
unknown resources and those outside the caller's scope 404 (alike), refused
state changes 409.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from controller.manifests import ManifestInvalid
from controller.policy import Denied, NotFound, QuotaExceeded
from controller.services.lifecycle import LifecycleRefused


def hiclaw_exception_handler(exc, context):
    if isinstance(exc, ManifestInvalid):
        first = exc.errors[0]
        message = str(first) if len(exc.errors) == 1 else f"{len(exc.errors)} errors; first: {first}"
        body: dict[str, Any] = {"message": message, "error": message, "field": first.field}
        body["errors"] = [error.as_dict() for error in exc.errors]
        return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    exc = {
        Denied: lambda e: exceptions.PermissionDenied(str(e)),
        QuotaExceeded: lambda e: Unprocessable(str(e)),
        NotFound: lambda e: exceptions.NotFound({e.field: str(e)} if e.field else str(e)),
        LifecycleRefused: lambda e: Conflict(str(e)),
    }.get(type(exc), lambda e: e)(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    field, message = _first_error(response.data)
    body = {"message": message, "error": message}
    if field:
        body["field"] = field
    response.data = body
    return response


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT


class Unavailable(exceptions.APIException):
    """A service the controller depends on failed; the caller may retry."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


def _first_error(data, path: str = "") -> tuple[str, str]:
    if isinstance(data, dict):
        if "detail" in data and len(data) == 1:
            return path, str(data["detail"])
        key, value = next(iter(data.items()))
        field = key if key != "non_field_errors" else ""
        field, message = _first_error(value, f"{path}.{field}".strip(".") if field else path)
        return field, f"{field}: {message}" if field and not message.startswith(f"{field}:") else message
    if isinstance(data, list) and data:
        return _first_error(data[0], path)
    return path, str(data)
