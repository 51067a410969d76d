"""Choosing the storage from configuration: ``HICLAW_STORAGE_URL`` parsed into a FileStorage or S3Storage."""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from controller.clients.storage.base import Storage
from controller.clients.storage.files import FileStorage

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
    # Imported here so that only a configured S3 storage loads the minio SDK.
    from controller.clients.storage.s3 import S3Storage

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
