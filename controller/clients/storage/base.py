"""The storage interface: its errors, `ObjectInfo`, the key rules and the `Storage` base class.

Every key and prefix goes through `normalize_key`, so no caller can escape its
prefix with '..', an absolute path or a backslash. Prefixes are directory-like:
'agents/a' means 'agents/a/' and never matches 'agents/ab/...'.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

# FileStorage writes objects through temporary files with this name prefix; keys
# may not use it, so a listing never shows a half-written object.
TEMP_PREFIX = ".hiclaw-tmp-"
MAX_KEY_BYTES = 1024  # the S3 limit, enforced for files too so both accept the same keys


class StorageError(Exception):
    """The storage failed or refused an operation; the message says which and why."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""


class KeyConflict(StorageError):
    """The key cannot hold an object because of what is stored around it; ``reason`` says what,
    in words that name no storage internals (fit to show the caller that chose the key)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class InvalidKey(StorageError, ValueError):
    """A key or prefix breaks a naming rule; the message names the key and the rule."""


class LinkRefused(StorageError):
    """The key leads through a symbolic link, which storage never follows (filesystem storage only)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object. `etag` is opaque: compare it for equality only."""

    key: str
    size: int
    etag: str
    last_modified: datetime  # aware, UTC, whole seconds (as S3 gives it in object headers)


def normalize_key(key: str, *, prefix: bool = False) -> str:
    """Return the canonical form of a key, or of a prefix when `prefix` is true.

    Drops a leading './' and '.' segments and collapses '//'; rejects NUL,
    backslashes, absolute paths, '..' segments, reserved temporary names and
    keys longer than S3 allows. A prefix is '' (everything) or ends with '/';
    a key may not be empty nor end with '/'.
    """

    def invalid(rule: str) -> InvalidKey:
        return InvalidKey(f"invalid storage {'prefix' if prefix else 'key'} {key!r}: {rule}")

    if "\x00" in key:
        raise invalid("it contains a NUL character")
    if "\\" in key:
        raise invalid("it contains a backslash; separate segments with '/'")
    if key.startswith("/"):
        raise invalid("it is absolute; keys are relative to the storage root")
    segments = [segment for segment in key.split("/") if segment not in ("", ".")]
    if ".." in segments:
        raise invalid("it has a '..' segment, which could escape its prefix")
    if any(segment.startswith(TEMP_PREFIX) for segment in segments):
        raise invalid(f"names starting with {TEMP_PREFIX!r} are reserved for temporary files")
    normalized = "/".join(segments)
    try:
        size = len(normalized.encode())
    except UnicodeEncodeError:  # e.g. a file name on disk that is not UTF-8
        raise invalid("it is not valid Unicode text") from None
    if size > MAX_KEY_BYTES:
        raise invalid(f"it is longer than {MAX_KEY_BYTES} bytes")
    if prefix:
        return normalized + "/" if normalized else ""
    if not normalized:
        raise invalid("it is empty")
    if key.endswith("/"):
        raise invalid("it ends with '/'; a key names an object, not a directory")
    return normalized


def is_canonical(key: str) -> bool:
    """Whether a stored name is a key this package could write; listings skip the others."""
    try:
        return normalize_key(key) == key
    except InvalidKey:
        return False


class Storage(ABC):
    """The storage interface. Public methods check keys; subclasses only see canonical ones."""

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store `data` under `key`, replacing any object there."""
        self._put(normalize_key(key), bytes(data), content_type)

    def get(self, key: str) -> bytes:
        """The content of `key`; raises ObjectNotFound when there is none."""
        return self._get(normalize_key(key))

    def stat(self, key: str) -> ObjectInfo | None:
        """Size, etag and time of `key`, or None when there is no object there."""
        return self._stat(normalize_key(key))

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ObjectInfo]:
        """Objects under the directory-like `prefix` ('' = all), sorted by key.

        Not recursive: only the objects directly under `prefix`, no sub-directories.
        """
        # Normalised before the generator starts, so a bad prefix fails at the call.
        return self._list(normalize_key(prefix, prefix=True), recursive)

    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing object is not an error."""
        self._delete(normalize_key(key))

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix` and return how many were removed."""
        normalized = normalize_key(prefix, prefix=True)
        if not normalized:
            raise InvalidKey(f"invalid storage prefix {prefix!r}: refusing to delete every object in the storage")
        return self._delete_prefix(normalized)

    def copy_prefix(self, src_prefix: str, dst_prefix: str) -> int:
        """Copy each object under `src_prefix` to the same relative key under `dst_prefix`.

        Objects already under `dst_prefix` are overwritten or left alone, never
        deleted. Returns how many objects were copied.
        """
        src, dst = normalize_key(src_prefix, prefix=True), normalize_key(dst_prefix, prefix=True)
        # Overlapping trees would copy their own copies (a/ -> a/b/ -> a/b/b/ ...).
        if src.startswith(dst) or dst.startswith(src):
            raise InvalidKey(f"cannot copy storage prefix {src_prefix!r} to {dst_prefix!r}: the two overlap")
        keys = [*self._keys(src)]
        for key in keys:
            self._copy(key, dst + key[len(src) :])
        return len(keys)

    @abstractmethod
    def ping(self) -> None:
        """Return when the storage can be used; raise StorageError otherwise."""

    def _keys(self, prefix: str) -> Iterator[str]:
        """Every key under `prefix`; overridden where that is cheaper than a full listing."""
        return (info.key for info in self._list(prefix, recursive=True))

    # The operations on canonical keys and prefixes that each implementation provides.
    @abstractmethod
    def _put(self, key: str, data: bytes, content_type: str) -> None: ...
    @abstractmethod
    def _get(self, key: str) -> bytes: ...
    @abstractmethod
    def _stat(self, key: str) -> ObjectInfo | None: ...
    @abstractmethod
    def _list(self, prefix: str, recursive: bool) -> Iterator[ObjectInfo]: ...
    @abstractmethod
    def _delete(self, key: str) -> None: ...
    @abstractmethod
    def _delete_prefix(self, prefix: str) -> int: ...
    @abstractmethod
    def _copy(self, src_key: str, dst_key: str) -> None: ...
