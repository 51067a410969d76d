"""``/api/v1/workspace/files``: an agent reads and writes its own workspace in storage.

Agents never get storage credentials (one leaked agent must not reach other
agents' files or the bucket); they sync through this API,
limited to ``agents/<their name>/``. Keys are normalised by the storage client,
so no path can leave that prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from controller.api.authentication import AgentTokenAuthentication
from controller.api.errors import Conflict, Unavailable
from controller.api.schema import WORKSPACE_LIST, WorkspaceWrittenSerializer, errors
from controller.clients.storage import (
    InvalidKey,
    KeyConflict,
    LinkRefused,
    ObjectNotFound,
    StorageError,
    normalize_key,
)
from controller.connections import default_connections
from controller.models import Identity
from controller.naming import storage_prefix

MAX_FILE_BYTES = 10 * 1024 * 1024
logger = logging.getLogger(__name__)


class LengthRequired(APIException):
    status_code = 411
    default_detail = "send the file with a Content-Length; chunked bodies are not accepted here"


class RawBody(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:  # type: ignore[override]  # DRF takes any data
        data = stream.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ValidationError({"body": f"files are limited to {MAX_FILE_BYTES} bytes"})
        return data


def _body(request) -> bytes:
    """The uploaded bytes. Never an accidental empty file: DRF reads a body only up to its
    Content-Length, so one still marked chunked here (served without the ASGI layer
    controller.bodies, which makes bodies length-delimited) is refused, not taken as empty."""
    if "HTTP_TRANSFER_ENCODING" in request.META:
        raise LengthRequired()
    data = request.data
    return data if isinstance(data, bytes) else b""  # DRF gives {} for a body of length 0


def _own_prefix(request) -> str:
    principal = request.user
    if principal.identity in (Identity.WORKER, Identity.TEAM_LEADER):
        return storage_prefix("worker", principal.name)
    if principal.identity == Identity.MANAGER:
        return storage_prefix("manager", principal.name)
    raise PermissionDenied("only an agent (worker, team leader or manager) has a workspace here")


def _key(prefix: str, path: str) -> str:
    try:
        return prefix + normalize_key(path)
    except InvalidKey as error:
        raise ValidationError({"path": str(error)}) from None


@contextmanager
def _storage_errors(path: str) -> Iterator[None]:
    """Storage failures as answers: a path through a symbolic link (filesystem storage) is the
    caller's 400 and a path the layout refuses its 409, both naming the path; anything else is
    the storage's 503, logged here and shown without its internals."""
    try:
        yield
    except ObjectNotFound:
        raise NotFound(f"no file {path!r} in this workspace") from None
    except LinkRefused:
        message = f"{path!r} leads through a symbolic link; workspace files are plain files"
        raise ValidationError({"path": message}) from None
    except KeyConflict as conflict:
        raise Conflict({"path": f"cannot write {path!r}: {conflict.reason}"}) from None
    except StorageError:
        logger.exception("workspace storage failed for %r", path)
        raise Unavailable("the workspace storage is unavailable; try again later") from None


def list_response(prefix: str) -> Response:
    """The files under ``prefix``, by path inside it, with their sizes and etags."""
    storage = default_connections().storage
    with _storage_errors(""):
        files = [
            {"path": info.key[len(prefix) :], "size": info.size, "etag": info.etag} for info in storage.list(prefix)
        ]
    return Response({"files": files})


def file_response(key: str, path: str, shown: Callable[[bytes], bytes] | None = None) -> HttpResponse:
    """The bytes stored at ``key`` (``path`` names it in errors), through ``shown`` when given."""
    with _storage_errors(path):
        content = default_connections().storage.get(key)
    return HttpResponse(shown(content) if shown else content, content_type="application/octet-stream")


class WorkspaceListView(APIView):
    authentication_classes = [AgentTokenAuthentication]

    @extend_schema(operation_id="workspace_files_list", responses={200: WORKSPACE_LIST, **errors(403, 503)})
    def get(self, request):
        return list_response(_own_prefix(request))


class WorkspaceFileView(APIView):
    authentication_classes = [AgentTokenAuthentication]
    parser_classes = [RawBody]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **errors(400, 403, 404, 503)})
    def get(self, request, path: str):
        return file_response(_key(_own_prefix(request), path), path)

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={201: WorkspaceWrittenSerializer, **errors(400, 403, 409, 411, 503)},
    )
    def put(self, request, path: str):
        key = _key(_own_prefix(request), path)
        data = _body(request)
        with _storage_errors(path):
            default_connections().storage.put(key, data)
        return Response({"path": path, "size": len(data)}, status=201)
