"""What a team member's generated config says about its team.

The leader's AGENTS.md gets a generated team-context block (team, members,
coordinator, admin, heartbeat and idle settings) after the user's own text,
and every member's channel policy lists who may address it in group rooms and
DMs. Both are recomputed on every config pass, so they
follow the team as it changes.
"""

from __future__ import annotations

from controller import naming
from controller.manifests.schema import ChannelPolicy
from controller.models import Manager, Team, Worker

BEGIN, END = "<!-- hiclaw:team-context begin (generated; edits are replaced) -->", "<!-- hiclaw:team-context end -->"


def team_admin_id(team: Team) -> str:
    admin = team.typed_spec.admin
    return (admin.matrix_user_id or "") if admin else ""


def team_admin_name(team: Team) -> str:
    """Who administers the team: its Matrix ID, else its name in the spec, else empty."""
    admin = team.typed_spec.admin
    return team_admin_id(team) or (admin.name if admin else "")


def channel_policy(worker: Worker, team: Team | None) -> dict[str, list[str]]:
    """Who may address the worker, plus the spec's extra allow/deny entries."""
    extra = worker.typed_spec.channel_policy or ChannelPolicy()
    group_allow: list[str] = []
    dm_allow: list[str] = []
    if team is not None:
        leader = team.typed_spec.leader.name
        admin = team_admin_id(team)
        coordinators = [naming.matrix_user_id("worker", leader)] + ([admin] if admin else [])
        if worker.name == leader:
            coordinators = [_manager_id()] if _manager_id() else []
            coordinators += [admin] if admin else []
        group_allow = list(coordinators)
        if team.typed_spec.peer_mentions:
            group_allow += [naming.matrix_user_id("worker", m.name) for m in team.typed_spec.workers]
        dm_allow = list(coordinators)
    elif _manager_id():
        group_allow = dm_allow = [_manager_id()]
    return {
        "groupAllow": _unique(group_allow + (extra.group_allow_extra or []), drop=worker),
        "groupDeny": list(extra.group_deny_extra or []),
        "dmAllow": _unique(dm_allow + (extra.dm_allow_extra or []), drop=worker),
        "dmDeny": list(extra.dm_deny_extra or []),
    }


def leader_agents_md(user_text: str, team: Team) -> str:
    """The leader's AGENTS.md: the user's text, then the generated team context."""
    spec = team.typed_spec
    heartbeat, hours = spec.leader.heartbeat, spec.leader.heartbeat.active_hours
    lines = [
        BEGIN,
        f"## Team {team.name}",
        "",
        f"- You lead team **{team.name}**." + (f" {spec.description}" if spec.description else ""),
        f"- Coordinator: {_manager_id() or 'none (no Manager)'}",
        f"- Team admin: {team_admin_name(team) or 'none'}",
        f"- Heartbeat: every {heartbeat.every}"
        + (f", active hours {hours.start}-{hours.end}" if hours else "")
        + ("" if heartbeat.enabled else " (disabled)"),
        f"- Idle workers sleep after {spec.leader.worker_idle_timeout}",
        "- Members:",
        *[
            f"  - {member.name} ({member.model}): {naming.matrix_user_id('worker', member.name)}"
            for member in spec.workers
        ],
        END,
    ]
    text = (user_text or "# Agents\n").rstrip()
    return f"{text}\n\n" + "\n".join(lines) + "\n"


def _manager_id() -> str:
    manager = Manager.current()
    return naming.matrix_user_id("manager", manager.name) if manager else ""


def _unique(users: list[str], *, drop: Worker) -> list[str]:
    own = naming.matrix_user_id("worker", drop.name)
    return [user for index, user in enumerate(users) if user and user != own and user not in users[:index]]
