"""Skipping a step whose inputs did not change since it last made the world right.

A Worker is reconciled again for many reasons that change nothing of its own
(its team's pass, a bulk action, a retry after a busy lock, a rollout's look):
each such pass read the homeserver, the gateway and storage again to find
everything in place, several HTTP calls per Worker. Now each step that
succeeds records a digest of what it was made from (``step_digests`` on the
row: the spec fields, settings and stored IDs the step's calls depend on),
and a later pass whose digest is the same, and whose condition is still True,
skips the step's calls.

What the digest cannot see is a change made outside the controller (a room
left, a consumer or file deleted by hand). So a skip is allowed only for
``HICLAW_VERIFY_SECONDS`` after the step last verified (by default the resync
period): the first pass after that verifies again and repairs what it finds.
The instance step is never skipped: the backend's word is what crash
detection and the resync rely on.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from django.conf import settings

from controller import naming
from controller.models import AgentResource


def digest(basis: Any) -> str:
    """A fingerprint of ``basis`` (JSON-able), safe to store: secrets in it are only hashed."""
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def unchanged(agent: AgentResource, step: str, condition: str, basis: Any) -> bool:
    """Whether ``step`` may skip its calls: it succeeded from this same ``basis`` less than
    ``HICLAW_VERIFY_SECONDS`` ago, and its ``condition`` still says so."""
    recorded = (agent.step_digests or {}).get(step)
    if not recorded or recorded.get("digest") != digest(basis):
        return False
    if time.time() - float(recorded.get("at", 0)) >= settings.HICLAW_VERIFY_SECONDS:
        return False
    held = agent.condition(condition)
    return held is not None and held["status"] == "True"


def record(agent: AgentResource, step: str, basis: Any) -> None:
    """``step`` just made the world match ``basis``: later passes may skip it for a while."""
    agent.step_digests = {**(agent.step_digests or {}), step: {"digest": digest(basis), "at": round(time.time(), 3)}}


def matrix_basis(kind: str, agent: AgentResource, title: str, others: list) -> list:
    """What the Matrix step's calls depend on; ``others``: who else is in the room, by name."""
    where = [settings.HICLAW_MATRIX_URL, settings.HICLAW_MATRIX_DOMAIN, settings.HICLAW_MATRIX_ADMIN_USER]
    mine = [kind, agent.name, title, agent.room_id, agent.matrix_user_id, agent.matrix_access_token]
    return [*where, *mine, others]


def gateway_basis(kind: str, agent: AgentResource, key: str) -> list:
    """What the gateway step's calls depend on (the consumer's key included)."""
    route = [agent.model, naming.prefix(), settings.HICLAW_GATEWAY_PROVIDER]
    consumer = naming.consumer_name(kind, agent.name)
    return [settings.HICLAW_GATEWAY_URL, consumer, key, *route, agent.typed_spec.mcp_servers or []]
