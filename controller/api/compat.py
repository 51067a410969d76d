"""Flat request bodies of the original HiClaw CLI, turned into manifest specs.

The original ``hiclaw create|update worker|team|human|manager`` sends flat
JSON (``name``, ``model``, ``skills`` …); ports in ``expose`` may be numbers
or strings and MCP servers names or ``{"name": …}`` objects. Specs built here
are validated by the manifest schema like any applied manifest.
"""

from __future__ import annotations

from typing import Any

WORKER_FIELDS = (
    "model",
    "runtime",
    "image",
    "identity",
    "soul",
    "agents",
    "skills",
    "mcpServers",
    "package",
    "expose",
    "channelPolicy",
    "state",
    "labels",
    "resources",
    "accessEntries",
)
MANAGER_FIELDS = (
    "model",
    "runtime",
    "image",
    "soul",
    "agents",
    "skills",
    "mcpServers",
    "package",
    "state",
    "config",
    "labels",
    "accessEntries",
)
HUMAN_FIELDS = ("displayName", "email", "permissionLevel", "accessibleTeams", "accessibleWorkers", "note")
# Team fields taken as they are; the leader and workers are merged (``team_spec``).
TEAM_FIELDS = ("description", "admin", "image", "peerMentions", "channelPolicy", "debug", "upgrade")


def worker_spec(body: dict[str, Any]) -> dict[str, Any]:
    spec = _pick(body, WORKER_FIELDS)
    if isinstance(spec.get("expose"), list):
        spec["expose"] = [_port(entry) for entry in spec["expose"]]
    if "mcpServers" in spec:
        spec["mcpServers"] = _names(spec["mcpServers"])
    if isinstance(spec.get("skills"), str):
        spec["skills"] = [skill.strip() for skill in spec["skills"].split(",") if skill.strip()]
    return spec


def manager_spec(body: dict[str, Any]) -> dict[str, Any]:
    spec = _pick(body, MANAGER_FIELDS)
    if "mcpServers" in spec:
        spec["mcpServers"] = _names(spec["mcpServers"])
    return spec


def human_spec(body: dict[str, Any]) -> dict[str, Any]:
    return _pick(body, HUMAN_FIELDS)


def team_spec(body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Team spec from the original's team body (``leader`` object or ``leaderName``/``leaderModel``)."""
    spec = dict(current or {})
    for key in TEAM_FIELDS:
        if key in body:
            spec[key] = body[key]
    leader = dict(spec.get("leader") or {})
    if isinstance(body.get("leader"), dict):
        leader.update(body["leader"])
    if "leaderName" in body:
        leader["name"] = body["leaderName"]
    if "leaderModel" in body:
        leader["model"] = body["leaderModel"]
    if leader:
        spec["leader"] = leader
    if "workers" in body:
        members, default_model = body["workers"] or [], leader.get("model", "")
        # Anything but a list is left for the schema to name what is wrong with it.
        spec["workers"] = [_team_worker(m, default_model) for m in members] if isinstance(members, list) else members
    return spec


def _team_worker(entry: Any, default_model: str) -> Any:
    if isinstance(entry, str):
        return {"name": entry, "model": default_model}
    if isinstance(entry, dict):
        return {"name": entry.get("name"), **worker_spec(entry)}
    return entry  # the schema names what is wrong with it


def _pick(body: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {key: body[key] for key in fields if key in body and body[key] is not None}


def _port(entry: Any) -> Any:
    if isinstance(entry, str) and entry.isdigit():
        return {"port": int(entry)}
    if isinstance(entry, int) and not isinstance(entry, bool):
        return {"port": entry}
    if isinstance(entry, dict) and isinstance(entry.get("port"), str) and entry["port"].isdigit():
        return {**entry, "port": int(entry["port"])}
    return entry


def _names(servers: Any) -> Any:
    if not isinstance(servers, list):
        return servers
    return [server.get("name") if isinstance(server, dict) else server for server in servers]
