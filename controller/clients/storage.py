"""Object storage for workspaces, generated config and skills: S3/MinIO or a directory (DESIGN §2, §5, §10).

Both implementations behave the same behind the `Storage` interface. Every key and
prefix goes through `normalize_key`, so no caller can escape its prefix with
'..', an absolute path or a backslash. Prefixes are directory-like: 'agents/a'
means 'agents/a/' and never matches 'agents/ab/...'. `get_storage()` builds the
storage named by ``HICLAW_STORAGE_URL``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

import certifi
import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from minio import Minio
from minio.commonconfig import CopySource
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

logger = logging.getLogger(__name__)

# FileStorage writes objects through temporary files with this name prefix; keys
# may not use it, so a listing never shows a half-written object.
TEMP_PREFIX = ".hiclaw-tmp-"
MAX_KEY_BYTES = 1024  # the S3 limit, enforced for files too so both accept the same keys
_CHUNK = 1024 * 1024


class StorageError(Exception):
    """The storage failed or refused an operation; the message says which and why."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""


class InvalidKey(StorageError, ValueError):
    """A key or prefix breaks a naming rule; the message names the key and the rule."""


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


def _is_canonical(key: str) -> bool:
    """Whether a stored name is a key this module could write; listings skip the others."""
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


class FileStorage(Storage):
    """Objects as files under a root directory (embedded mode).

    Writes are atomic (temporary file, then os.replace); directories emptied by a
    delete are removed. Symbolic links are neither listed nor followed out of the
    root. Unlike S3, 'a' and 'a/b' cannot both be objects: the second put fails.
    The etag is the MD5 of the content, as S3 gives for single-part uploads.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"FileStorage(root={str(self.root)!r})"

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{self!r}: cannot make the root directory: {exc.strerror or exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"{self!r}: the root directory is not writable")

    @contextmanager
    def _os_errors(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"{self!r}: no object at {key!r}") from None
        except OSError as exc:
            raise StorageError(f"{self!r}: {action} {key!r} failed: {exc.strerror or exc}") from exc

    def _path(self, key: str) -> Path:
        path = self.root / key
        # A symlink inside the root (a worker may make one in its workspace) must not
        # let a key reach outside it.
        if not Path(os.path.realpath(path)).is_relative_to(self.root):
            raise StorageError(f"{self!r}: key {key!r} leads outside the storage root through a symbolic link")
        return path

    def _write(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        path = self._path(key)
        if path.is_dir():
            raise StorageError(f"{self!r}: cannot put {key!r}: other objects are stored under {key + '/'!r}")
        for attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
                break
            except FileNotFoundError:
                # A concurrent delete pruned the new parent before mkstemp: make it again.
                if attempt == 2:
                    raise StorageError(f"{self!r}: cannot put {key!r}: its directory keeps vanishing") from None
            except (FileExistsError, NotADirectoryError):
                raise StorageError(f"{self!r}: cannot put {key!r}: a parent of it is an object") from None
            except OSError as exc:
                raise StorageError(f"{self!r}: put {key!r} failed: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(fd, "wb") as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise StorageError(f"{self!r}: put {key!r} failed: {exc.strerror or exc}") from exc
            raise

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        self._write(key, lambda file: file.write(data))

    def _get(self, key: str) -> bytes:
        with self._os_errors("get", key):
            return self._path(key).read_bytes()

    def _stat(self, key: str) -> ObjectInfo | None:
        try:
            with self._os_errors("stat", key), self._path(key).open("rb") as file:
                # Size, time and hash all come from the one open file, so they agree
                # even when the object is replaced meanwhile.
                st = os.fstat(file.fileno())
                digest = hashlib.md5(usedforsecurity=False)
                while chunk := file.read(_CHUNK):
                    digest.update(chunk)
        except ObjectNotFound:
            return None
        modified = datetime.fromtimestamp(int(st.st_mtime), tz=UTC)
        return ObjectInfo(key=key, size=st.st_size, etag=digest.hexdigest(), last_modified=modified)

    def _list(self, prefix: str, recursive: bool) -> Iterator[ObjectInfo]:
        directory = self._path(prefix.rstrip("/")) if prefix else self.root
        for key in self._walk(directory, prefix, recursive):
            info = self._stat(key)
            if info is not None:  # else deleted since its directory was read
                yield info

    def _keys(self, prefix: str) -> Iterator[str]:
        return self._walk(self._path(prefix.rstrip("/")), prefix, recursive=True)

    def _walk(self, directory: Path, prefix: str, recursive: bool) -> Iterator[str]:
        try:
            with self._os_errors("list", prefix):
                entries = list(os.scandir(directory))
        except ObjectNotFound:
            return

        # Sorting a directory as "name/" yields keys in global key order while walking
        # ('a-c' < 'a/b' < 'a0'), without collecting the whole tree first.
        def order(entry: os.DirEntry[str]) -> str:
            return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name

        for entry in sorted(entries, key=order):
            key = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    yield from self._walk(Path(entry.path), key + "/", recursive)
            elif entry.is_file(follow_symlinks=False) and _is_canonical(key):
                yield key

    def _delete(self, key: str) -> None:
        path = self._path(key)
        try:
            with self._os_errors("delete", key):
                path.unlink()
        except ObjectNotFound:
            return
        # Remove the directories this delete emptied, so a deleted prefix leaves nothing.
        directory = path.parent
        while directory != self.root:
            try:
                directory.rmdir()
            except OSError:
                return  # not empty (or gone): nothing above it can have been emptied
            directory = directory.parent

    def _delete_prefix(self, prefix: str) -> int:
        keys = [*self._keys(prefix)]
        for key in keys:
            self._delete(key)
        return len(keys)

    def _copy(self, src_key: str, dst_key: str) -> None:
        with self._os_errors("copy", src_key):
            source = self._path(src_key).open("rb")
        with source:
            self._write(dst_key, lambda file: shutil.copyfileobj(source, file, _CHUNK))


class S3Storage(Storage):
    """Objects in one S3 bucket through the minio SDK (MinIO, AWS S3 or any compatible server).

    The bucket is created on first use if missing. Every request has a connect
    and read timeout and few retries, so an unreachable server fails in seconds.
    """

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = True,
        region: str | None = None,
        connect_timeout: float = 5,
        read_timeout: float = 30,
    ) -> None:
        self.endpoint, self.bucket, self.secure, self.region = endpoint, bucket, secure, region
        self.access_key = access_key
        self._secret_key = secret_key
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._client = Minio(endpoint, access_key, secret_key, secure=secure, region=region, http_client=http)
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Storage(endpoint='{'https' if self.secure else 'http'}://{self.endpoint}', bucket={self.bucket!r})"

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """Turn SDK and network errors into StorageError (ObjectNotFound for a missing key)."""
        try:
            yield
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise ObjectNotFound(f"{self!r}: no object at {key!r}") from None
            raise StorageError(f"{self!r}: {action} {key!r} failed: {exc}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageError(f"{self!r}: {action} {key!r} failed: {exc}") from exc

    def _request(self, action: str, key: str) -> AbstractContextManager[None]:
        self._ensure_bucket()
        return self._errors(action, key)

    def _ensure_bucket(self, *, check: bool = False) -> None:
        if self._bucket_ready and not check:
            return
        with self._bucket_lock, self._errors("create bucket", self.bucket):
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket, location=self.region)
                    logger.info("storage: created bucket %s on %s", self.bucket, self.endpoint)
                except S3Error as exc:
                    # Another process created it meanwhile: that is what we wanted.
                    if exc.code != "BucketAlreadyOwnedByYou":
                        raise
            self._bucket_ready = True

    def ping(self) -> None:
        self._ensure_bucket(check=True)

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        with self._request("put", key):
            self._client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def _get(self, key: str) -> bytes:
        with self._request("get", key):
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def _stat(self, key: str) -> ObjectInfo | None:
        try:
            with self._request("stat", key):
                obj = self._client.stat_object(self.bucket, key)
        except ObjectNotFound:
            return None
        return ObjectInfo(key, obj.size, obj.etag.strip('"'), obj.last_modified.replace(microsecond=0))

    def _list(self, prefix: str, recursive: bool) -> Iterator[ObjectInfo]:
        with self._request("list", prefix):
            for obj in self._client.list_objects(self.bucket, prefix=prefix or None, recursive=recursive):
                # Sub-prefixes of a shallow listing, and names other tools wrote that are
                # no valid key (e.g. 'dir/' folder markers), are not objects here.
                if not obj.is_dir and _is_canonical(obj.object_name):
                    modified = obj.last_modified.replace(microsecond=0)  # listings have ms, HEAD has s
                    yield ObjectInfo(obj.object_name, obj.size, obj.etag.strip('"'), modified)

    def _delete(self, key: str) -> None:
        with self._request("delete", key):
            self._client.remove_object(self.bucket, key)  # S3 deletes of missing keys succeed

    def _delete_prefix(self, prefix: str) -> int:
        with self._request("delete prefix", prefix):
            # Everything under the prefix goes, including folder markers the listing hides.
            names = [obj.object_name for obj in self._client.list_objects(self.bucket, prefix=prefix, recursive=True)]
            errors = [*self._client.remove_objects(self.bucket, (DeleteObject(name) for name in names))]
        if errors:
            raise StorageError(f"{self!r}: delete prefix {prefix!r} failed for {len(errors)} objects: {errors[0]}")
        return len(names)

    def _copy(self, src_key: str, dst_key: str) -> None:
        with self._request("copy", src_key):
            self._client.copy_object(self.bucket, dst_key, CopySource(self.bucket, src_key))


# --- Configuration ------------------------------------------------------------------

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def storage_from_url(url: str) -> Storage:
    """Build a storage from ``file:///abs/path`` or ``s3://KEY:SECRET@host:port/bucket?secure=false&region=r``.

    Errors name HICLAW_STORAGE_URL and what is wrong, never the secret.
    """

    def bad(problem: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"HICLAW_STORAGE_URL {problem}")

    parts = urlsplit(url.strip())
    if parts.fragment:
        raise bad("has a '#' fragment: percent-encode '#' in the key or secret as %23")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query:
            raise bad("must be file:///absolute/path (three slashes, no host, no options)")
        if not parts.path.startswith("/"):
            raise bad("must name an absolute directory: file:///absolute/path")
        return FileStorage(unquote(parts.path))
    if parts.scheme != "s3":
        raise bad(f"must start with file:// or s3://, not {parts.scheme + '://' if parts.scheme else 'a bare path'}")
    if not parts.username or not parts.password:
        raise bad("needs credentials: s3://KEY:SECRET@host:port/bucket")
    if not parts.hostname:
        raise bad("needs a host: s3://KEY:SECRET@host:port/bucket")
    try:
        port = parts.port
    except ValueError:
        raise bad("has a port that is not a number from 0 to 65535") from None
    bucket = parts.path.strip("/")
    if not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise bad(f"must end with one bucket name (3-63 of a-z, 0-9, '.', '-'), got {bucket!r}")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"secure", "region"})
    if unknown:
        raise bad(f"has unknown options {', '.join(unknown)}; known: secure, region")
    secure = _BOOLEANS.get(options.get("secure", "true").lower())
    if secure is None:
        raise bad(f"option secure must be true or false, got {options['secure']!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return S3Storage(
        f"{host}:{port}" if port else host,
        bucket,
        unquote(parts.username),
        unquote(parts.password),
        secure=secure,
        region=options.get("region") or None,
    )


def get_storage() -> Storage:
    """The storage configured by ``settings.HICLAW_STORAGE_URL`` (one instance per URL)."""
    return _storage_for_url(settings.HICLAW_STORAGE_URL)


@functools.lru_cache(maxsize=8)
def _storage_for_url(url: str) -> Storage:
    return storage_from_url(url)
