"""Object storage for workspaces, generated config and skills: S3/MinIO, or a directory in embedded mode.

Both implementations behave the same behind the `Storage` interface (`base`):
`FileStorage` (`files`) for the embedded mode, `S3Storage` (`s3`) for S3 servers.
Every key and prefix goes through `normalize_key`, so no caller can escape its
prefix with '..', an absolute path or a backslash. Prefixes are directory-like:
'agents/a' means 'agents/a/' and never matches 'agents/ab/...'. `get_storage()`
(`config`) builds the storage named by ``HICLAW_STORAGE_URL``.

`S3Storage` is loaded on first access, so importing this package does not import
the minio SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controller.clients.storage.base import (
    MAX_KEY_BYTES,
    TEMP_PREFIX,
    InvalidKey,
    KeyConflict,
    LinkRefused,
    ObjectInfo,
    ObjectNotFound,
    Storage,
    StorageError,
    normalize_key,
)
from controller.clients.storage.config import get_storage, storage_from_url
from controller.clients.storage.files import FileStorage

if TYPE_CHECKING:
    from controller.clients.storage.s3 import S3Storage  # for type checkers; at run time see __getattr__

__all__ = [
    "MAX_KEY_BYTES",
    "TEMP_PREFIX",
    "FileStorage",
    "InvalidKey",
    "KeyConflict",
    "LinkRefused",
    "ObjectInfo",
    "ObjectNotFound",
    "S3Storage",
    "Storage",
    "StorageError",
    "get_storage",
    "normalize_key",
    "storage_from_url",
]


def __getattr__(name: str) -> Any:
    # PEP 562: `from controller.clients.storage import S3Storage` works, minio loads only then.
    if name == "S3Storage":
        from controller.clients.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
