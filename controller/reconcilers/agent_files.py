"""The files generated for an agent and written to storage under ``agents/<name>/``.

The agent config JSON (named after the runtime, e.g. ``openclaw.json``)
carries the agent's Matrix identity, its gateway credentials, its tool
lists and the spec's ``accessEntries`` (cloud-credential scopes: with no
credential provider here they inform the agent and grant nothing); SOUL.md,
IDENTITY.md and AGENTS.md carry the text of the spec. A change to any of
them is hot-pushed through storage: no restart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from controller.manifests.schema import ManagerSpec, WorkerSpec


@dataclass(frozen=True)
class AgentWiring:
    """What the earlier reconcile steps established for the agent."""

    matrix_url: str = ""
    matrix_user_id: str = ""
    matrix_access_token: str = ""
    room_id: str = ""
    gateway_url: str = ""
    gateway_consumer: str = ""
    gateway_key: str = ""
    controller_url: str = ""


def config_file_name(runtime: str) -> str:
    return f"{runtime}.json"


def agent_files(
    name: str,
    spec: WorkerSpec | ManagerSpec,
    wiring: AgentWiring,
    *,
    team: str = "",
    agents_md: str | None = None,
    channel_policy: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    """File name (relative to the agent's prefix) -> content.

    ``agents_md`` replaces the spec's AGENTS.md text (the leader's carries a
    generated team block), ``channel_policy`` is the computed allow/deny
    lists, ``extra`` adds kind-specific config keys (the Manager's).
    """
    config = {
        "name": name,
        "team": team,
        "runtime": spec.runtime,
        "model": spec.model,
        "controller": {"url": wiring.controller_url},
        "matrix": {
            "homeserver": wiring.matrix_url,
            "userId": wiring.matrix_user_id,
            "accessToken": wiring.matrix_access_token,
            "roomId": wiring.room_id,
        },
        "gateway": {"url": wiring.gateway_url, "consumer": wiring.gateway_consumer, "apiKey": wiring.gateway_key},
        "skills": spec.skills or [],
        "mcpServers": spec.mcp_servers or [],
        "channelPolicy": channel_policy if channel_policy is not None else _own_channel_policy(spec),
        # A Manager exposes no ports.
        "expose": [port.manifest() for port in getattr(spec, "expose", None) or []],
        "accessEntries": [entry.manifest() for entry in spec.access_entries or []],
        **(extra or {}),
    }
    files = {config_file_name(config["runtime"]): json.dumps(config, indent=2, sort_keys=True).encode()}
    for text, file_name, default in (
        (spec.soul, "SOUL.md", f"# {name}\n"),
        (spec.identity, "IDENTITY.md", f"# Identity\n\nYou are {name}, a HiClaw worker.\n"),
        (spec.agents, "AGENTS.md", "# Agents\n"),
    ):
        files[file_name] = (text or default).encode()
    if agents_md is not None:
        files["AGENTS.md"] = agents_md.encode()
    return files


def files_digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for file_name in sorted(files):
        digest.update(file_name.encode() + b"\0" + hashlib.sha256(files[file_name]).digest())
    return digest.hexdigest()


def _own_channel_policy(spec: WorkerSpec | ManagerSpec) -> dict[str, Any]:
    """The spec's own extra allow/deny lists (a Manager's spec has none)."""
    policy = getattr(spec, "channel_policy", None)
    return policy.manifest() if policy is not None else {}
