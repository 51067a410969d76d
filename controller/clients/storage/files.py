"""The directory storage of the embedded mode: objects as files under one root directory."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from controller.clients.storage.base import (
    TEMP_PREFIX,
    KeyConflict,
    LinkRefused,
    ObjectInfo,
    ObjectNotFound,
    Storage,
    StorageError,
    is_canonical,
)

_CHUNK = 1024 * 1024


class FileStorage(Storage):
    """Objects as files under a root directory (embedded mode).

    Writes are atomic (temporary file, then os.replace); directories emptied by a
    delete are removed. Symbolic links are not objects: they are never listed and
    never followed, so a key names exactly the file at ``root/key`` and stays in its
    own prefix (a link one agent makes in its workspace cannot reach another's).
    Unlike S3, 'a' and 'a/b' cannot both be objects: the second put fails.
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
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link made since _path checked
                raise LinkRefused(f"{self!r}: key {key!r} is a symbolic link, which storage never follows") from None
            raise StorageError(f"{self!r}: {action} {key!r} failed: {exc.strerror or exc}") from exc

    def _path(self, key: str) -> Path:
        path = self.root / key
        # Containment is per key, not per root: a link inside the root (an agent may
        # make one in its workspace) could point into another agent's prefix, so no
        # link is followed at all. Keys are canonical and the root is resolved, so the
        # real path differs from the plain one exactly when a link is on the way.
        if os.path.realpath(path) != str(path):
            raise LinkRefused(f"{self!r}: key {key!r} leads through a symbolic link, which storage never follows")
        return path

    def _open(self, key: str) -> BinaryIO:
        """The object's file for reading; O_NOFOLLOW closes the race of a link made after the check."""
        fd = os.open(self._path(key), os.O_RDONLY | os.O_NOFOLLOW)
        return os.fdopen(fd, "rb")

    def _write(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        path = self._path(key)
        if path.is_dir():
            message = f"{self!r}: cannot put {key!r}: other objects are stored under {key + '/'!r}"
            raise KeyConflict(message, "other objects are stored under it, as under a directory")
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
                message = f"{self!r}: cannot put {key!r}: a parent of it is an object"
                raise KeyConflict(message, "a parent of it is an object, not a directory") from None
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
        with self._os_errors("get", key), self._open(key) as file:
            return file.read()

    def _stat(self, key: str) -> ObjectInfo | None:
        try:
            with self._os_errors("stat", key), self._open(key) as file:
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
            elif entry.is_file(follow_symlinks=False) and is_canonical(key):
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
            source = self._open(src_key)
        with source:
            self._write(dst_key, lambda file: shutil.copyfileobj(source, file, _CHUNK))
