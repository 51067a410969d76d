"""Converging a Matrix room to exactly the members it should have.

Rooms are found by alias (derived from the resource prefix), created by the
controller's own admin account, and brought to the wanted members and power
levels: missing users are invited (and joined when the controller holds
their session), agents who no longer belong are removed. People are left to
the Human reconciler, which invites and removes them by their permission
level. Reads come first, so a room that is already right costs no write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from controller import naming
from controller.clients.matrix import MatrixClient, MatrixError, MatrixSession, MatrixUnavailable
from controller.connections import Connections
from controller.reconcilers.base import TemporaryError

ACTIVE = ("join", "invite")


def converge_room(
    matrix: MatrixClient,
    admin: MatrixSession,
    *,
    alias: str,
    title: str,
    wanted: dict[str, int],
    sessions: dict[str, MatrixSession] | None = None,
    direct: bool = False,
    room_id: str = "",
) -> str:
    """Make the room at ``alias`` hold exactly ``wanted`` (user -> power level); return its ID.

    ``sessions`` are members the controller may join on their behalf.
    """
    room_id = room_id or matrix.resolve_alias(admin, alias) or ""
    if not room_id:
        room_id = matrix.create_room(
            admin,
            name=title,
            alias_localpart=alias,
            invite=list(wanted),
            power_levels={user: level for user, level in wanted.items() if level},
            direct=direct,
        )
    members = matrix.room_members(admin, room_id)
    for user in wanted:
        if members.get(user) not in ACTIVE:
            matrix.invite(admin, room_id, user)
    for user, membership in members.items():
        if membership in ACTIVE and user not in wanted and _is_agent(user):
            matrix.kick(admin, room_id, user, reason="no longer a member")
    levels = matrix.power_levels(admin, room_id).get("users", {})
    changed = {user: level for user, level in wanted.items() if levels.get(user, 0) != level}
    if changed:
        matrix.set_power_levels(admin, room_id, changed)
    join_members(matrix, admin, room_id, wanted, sessions or {})
    return room_id


def join_members(
    matrix: MatrixClient, admin: MatrixSession, room_id: str, wanted: dict[str, int], sessions: dict[str, MatrixSession]
) -> None:
    """Join the wanted members whose ``sessions`` the controller holds and who have not joined yet."""
    joining = {user: session for user, session in sessions.items() if user in wanted}
    if not joining:
        return
    members = matrix.room_members(admin, room_id)
    for user, session in joining.items():
        if members.get(user) != "join":
            matrix.join(session, room_id)


def _is_agent(user_id: str) -> bool:
    """Accounts this controller made for agents (their localpart carries the resource prefix)."""
    return user_id.startswith(f"@{naming.prefix()}")


@contextmanager
def matrix_errors(condition: str = "MatrixReady") -> Iterator[None]:
    """Homeserver failures become a temporary error on ``condition`` (retried with backoff)."""
    try:
        yield
    except MatrixUnavailable as error:
        raise TemporaryError(condition, "Unavailable", str(error)) from None
    except MatrixError as error:
        raise TemporaryError(condition, error.errcode or "MatrixError", str(error)) from None


def ensure_account(connections: Connections, kind: str, name: str) -> str:
    """The Matrix user ID of an agent, creating its account if it has none yet.

    That agent's own reconciler keeps the account; creating it here lets a
    room be complete before that agent's first pass.
    """
    matrix = connections.require_matrix()
    localpart = naming.matrix_localpart(kind, name)
    user_id = matrix.user_id(localpart)
    if not matrix.user_exists(connections.matrix_admin(), user_id):
        matrix.register(localpart, naming.derived_secret("matrix-password", f"{kind}:{name}"))
    return user_id
