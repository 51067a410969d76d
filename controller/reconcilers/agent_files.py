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
    spec: dict[str, Any],
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
        "runtime": spec.get("runtime", "openclaw"),
        "model": spec.get("model", ""),
        "controller": {"url": wiring.controller_url},
        "matrix": {
            "homeserver": wiring.matrix_url,
            "userId": wiring.matrix_user_id,
            "accessToken": wiring.matrix_access_token,
            "roomId": wiring.room_id,
        },
        "gateway": {"url": wiring.gateway_url, "consumer": wiring.gateway_consumer, "apiKey": wiring.gateway_key},
        "skills": spec.get("skills", []),
        "mcpServers": spec.get("mcpServers", []),
        "channelPolicy": channel_policy if channel_policy is not None else spec.get("channelPolicy", {}),
        "expose": spec.get("expose", []),
        "accessEntries": spec.get("accessEntries", []),
        **(extra or {}),
    }
    files = {config_file_name(config["runtime"]): json.dumps(config, indent=2, sort_keys=True).encode()}
    for field, file_name, default in (
        ("soul", "SOUL.md", f"# {name}\n"),
        ("identity", "IDENTITY.md", f"# Identity\n\nYou are {name}, a HiClaw worker.\n"),
        ("agents", "AGENTS.md", "# Agents\n"),
    ):
        files[file_name] = (spec.get(field) or default).encode()
    if agents_md is not None:
        files["AGENTS.md"] = agents_md.encode()
    return files


def files_digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for file_name in sorted(files):
        digest.update(file_name.encode() + b"\0" + hashlib.sha256(files[file_name]).digest())
    return digest.hexdigest()
