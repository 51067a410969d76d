"""External names, all derived from ``HICLAW_RESOURCE_PREFIX`` (default ``hiclaw-``).

Two controllers with different prefixes can share one homeserver, Docker
engine or gateway without colliding.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def prefix() -> str:
    return settings.HICLAW_RESOURCE_PREFIX


def instance_name(kind: str, name: str) -> str:
    """Container / process / pod name: ``hiclaw-worker-alice``."""
    return f"{prefix()}{kind}-{name}"


def matrix_localpart(kind: str, name: str) -> str:
    """Matrix account of an agent: ``@hiclaw-worker-alice:domain``."""
    return f"{prefix()}{kind}-{name}"


def room_alias(kind: str, name: str) -> str:
    """Alias localpart of an agent's own room: ``#hiclaw-worker-alice:domain``."""
    return f"{prefix()}{kind}-{name}-room"


def consumer_name(kind: str, name: str) -> str:
    """Gateway consumer of an agent."""
    return f"{prefix()}{kind}-{name}"


def storage_prefix(kind: str, name: str) -> str:
    """Where an agent's workspace and generated config live: ``agents/<name>/`` for workers."""
    return f"agents/{name}/" if kind == "worker" else f"{kind}s/{name}/"


def matrix_user_id(kind: str, name: str) -> str:
    """The Matrix ID an agent has (or will have), for configs written before it exists."""
    localpart = matrix_localpart(kind, name)
    domain = settings.HICLAW_MATRIX_DOMAIN
    return f"@{localpart}:{domain}" if domain else localpart


def derived_secret(purpose: str, name: str) -> str:
    """A secret derived from the Django secret key, for credentials we must present again.

    Derivation instead of storage makes the steps that create accounts
    idempotent across crashes (the same password every time) and keeps such
    secrets out of the database. Rotating ``DJANGO_SECRET_KEY`` rotates them.
    """
    message = f"{prefix()}|{purpose}|{name}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()
