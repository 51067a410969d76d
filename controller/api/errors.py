"""Error bodies the original HiClaw server and CLI understand.

The original server wrote ``message`` and its CLI reads ``error``; both carry
the same text, plus ``field`` when one field is at fault. A domain error
(``controller.errors.DomainError``) is answered with the status and field it
carries, as the dashboard and the admin read them too.
"""

from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from controller.errors import DomainError
from controller.services import heartbeat_rate


def hiclaw_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    field, message = _first_error(response.data)
    body = {"message": message, "error": message}
    if field:
        body["field"] = field
    response.data = body
    return response


def domain_error_response(error: DomainError) -> Response:
    """The answer to a domain error: its status, its words, its field."""
    message = error.describe()
    body = {"message": message, "error": message, **({"field": error.field} if error.field else {})}
    return Response({**body, **error.details()}, status=error.status)


def too_many_heartbeats(wait: int) -> Response:
    """A report over the agent's rate: 429 with ``Retry-After``, the seconds to wait."""
    message = heartbeat_rate.refusal(wait)
    refused = Response(
        {"message": message, "error": message},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(wait)},
    )
    # Not logged (Django logs every 4xx as a warning): a flood would write a line per report.
    refused._has_been_logged = True  # type: ignore[attr-defined]
    return refused


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
