"""A DebugWorker's Matrix side: its own account and its debug room.

The room holds exactly the people ``accessControl.allowedUsers`` names (by
Matrix ID, by Human name or by the dashboard login linked to a Human; the
team admin of the team it debugs when the list is empty) and the debug
account, plus the controller's own account that created it and moderates it
(as in every room the controller makes). Unlike an agent's room, which leaves
people to the Human reconciler, nobody else may stay: the room shows what the
DebugWorker exports and reports, so whoever is dropped from ``allowedUsers``
is removed.

The account is new for every DebugWorker row (its localpart carries the row's
primary key): a deleted DebugWorker's account is deactivated, and a
homeserver never gives a deactivated ID out again, so a DebugWorker re-created
under the same name (a team's default renewed after its retention) needs a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller import naming
from controller.clients.matrix import MatrixClient, MatrixSession
from controller.connections import Connections
from controller.models import DebugWorker, Human, Team
from controller.policy import allowed_users
from controller.reconcilers.rooms import ACTIVE, converge_room
from controller.reconcilers.team_context import team_admin_name

MODERATOR_POWER = 100  # the people it is for may moderate their own debug room


@dataclass(frozen=True)
class Audience:
    """Who the debug room is for: resolved Matrix IDs, and the entries that resolved to none."""

    user_ids: tuple[str, ...]
    skipped: tuple[str, ...]


def account_name(debugworker: DebugWorker) -> str:
    """The name its Matrix localpart is derived from: unique to this row, see the module docstring."""
    return f"{debugworker.name}-{debugworker.pk}"


def account_password(debugworker: DebugWorker) -> str:
    return naming.derived_secret("matrix-password", f"debug:{account_name(debugworker)}")


def audience_entries(debugworker: DebugWorker) -> list[str]:
    """``allowedUsers``, or the admin of the team it debugs when that list is empty."""
    entries = allowed_users(debugworker)
    if entries:
        return entries
    team = Team.objects.filter(name=debugworker.team_name).first() if debugworker.team_name else None
    admin = team_admin_name(team) if team is not None else ""
    return [admin] if admin else []


def resolve_audience(matrix: MatrixClient, admin: MatrixSession, entries: list[str]) -> Audience:
    """Each entry as a Matrix ID: a Matrix ID as it is (one on this homeserver only if the account
    exists), a name through the Human named so or linked to that login; others are skipped."""
    found: list[str] = []
    skipped: list[str] = []
    for entry in entries:
        user_id = _matrix_id(entry)
        local = user_id.endswith(f":{matrix.server_name}")
        if not user_id or (local and not matrix.user_exists(admin, user_id)):
            skipped.append(entry)
        elif user_id not in found:
            found.append(user_id)
    return Audience(tuple(found), tuple(skipped))


def _matrix_id(entry: str) -> str:
    if entry.startswith("@") and ":" in entry:
        return entry
    human = Human.objects.filter(name=entry).first() or Human.objects.filter(user__username=entry).first()
    return human.matrix_user_id if human is not None else ""


def ensure_debug_room(connections: Connections, debugworker: DebugWorker, audience: Audience) -> tuple[str, str]:
    """Make its account and its room hold exactly ``audience`` and the account; (user ID, room ID).

    Reads first: a converged room costs no write, and the account logs in only to join.
    """
    matrix = connections.require_matrix()
    admin = connections.matrix_admin()
    localpart = naming.matrix_localpart("debug", account_name(debugworker))
    user_id = matrix.user_id(localpart)
    session = None
    if not matrix.user_exists(admin, user_id):
        session = matrix.register(localpart, account_password(debugworker), display_name=f"debug {debugworker.name}")
    wanted = {user_id: 0, **dict.fromkeys(audience.user_ids, MODERATOR_POWER)}
    room_id = converge_room(
        matrix,
        admin,
        alias=naming.room_alias("debug", account_name(debugworker)),
        title=f"Debug: {debugworker.name}",
        wanted=wanted,
        room_id=debugworker.room_id,
    )
    members = matrix.room_members(admin, room_id)
    for user, membership in members.items():
        # converge_room leaves people to the Human reconciler; this room is only for its audience.
        if membership in ACTIVE and user not in wanted and user != admin.user_id:
            matrix.kick(admin, room_id, user, reason="not in this DebugWorker's allowedUsers")
    if members.get(user_id) != "join":
        session = session or matrix.login(localpart, account_password(debugworker))
        matrix.join(session, room_id)
    return user_id, room_id


def tear_down(connections: Connections, debugworker: DebugWorker) -> None:
    """Empty its room (the account leaves when deactivated) and deactivate its account."""
    matrix = connections.matrix
    if matrix is None:
        return
    admin = connections.matrix_admin()
    if debugworker.room_id:
        for user, membership in matrix.room_members(admin, debugworker.room_id).items():
            if membership in ACTIVE and user not in (admin.user_id, debugworker.matrix_user_id):
                matrix.kick(admin, debugworker.room_id, user, reason="DebugWorker deleted")
    if debugworker.matrix_user_id:
        matrix.deactivate(admin, debugworker.matrix_user_id)
