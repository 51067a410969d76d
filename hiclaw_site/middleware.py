"""A store that cannot be written answers 503 with a reason, not a 500 with a traceback.

The SQLite file of the embedded mode may turn read-only or its disk fill up
while the server runs; a PostgreSQL server may go away. Either way requests
fail with Django's ``OperationalError``; the person or agent asking is told
that the store is unavailable and that the request can be retried.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

logger = logging.getLogger(__name__)


class StoreUnavailableMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError):
            return None
        sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
        where = f"the database in HICLAW_DATA_DIR={settings.DATA_DIR}" if sqlite else "the database"
        message = f"the controller's store is unavailable ({where}: {exception}); retry later"
        logger.error("%s %s: %s", request.method, request.path, message)
        if request.path.startswith("/api/"):
            return JsonResponse({"message": message, "error": message}, status=503, headers={"Retry-After": "5"})
        return HttpResponse(message, status=503, content_type="text/plain; charset=utf-8", headers={"Retry-After": "5"})
