"""The S3 storage: objects in one bucket of MinIO, AWS S3 or any compatible server.

The only module of the package that imports the minio SDK; `storage_from_url`
imports it on demand, so the embedded mode runs without it.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from controller.clients.storage.base import ObjectInfo, ObjectNotFound, Storage, StorageError, is_canonical

logger = logging.getLogger(__name__)


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
        if obj.size is None or obj.etag is None or obj.last_modified is None:
            # Every S3 server sends these headers for an object; the SDK types them optional.
            raise StorageError(f"the server's answer for {key} lacks its size, ETag or modification time")
        return ObjectInfo(key, obj.size, obj.etag.strip('"'), obj.last_modified.replace(microsecond=0))

    def _list(self, prefix: str, recursive: bool) -> Iterator[ObjectInfo]:
        with self._request("list", prefix):
            for obj in self._client.list_objects(self.bucket, prefix=prefix or None, recursive=recursive):
                # Sub-prefixes of a shallow listing, and names other tools wrote that are
                # no valid key (e.g. 'dir/' folder markers), are not objects here.
                if not obj.is_dir and is_canonical(obj.object_name):
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
