"""Error bodies the original HiClaw server and CLI understand.

The original server wrote ``message`` and its CLI reads ``error``; both carry
the same text, plus ``field`` when one field is at fault.
"""

from __future__ import annotations

from rest_framework.views import exception_handler


def hiclaw_exception_handler(exc, context):
    response = exception_handler(exc, context)
    if response is None:
        return None
    field, message = _first_error(response.data)
    body = {"message": message, "error": message}
    if field:
        body["field"] = field
    response.data = body
    return response


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
