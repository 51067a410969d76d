"""The Human reconciler: a person's Matrix account and the rooms their level grants.

Level 1 (admin): every team room, every agent room, the Manager's room.
Level 2 (team): the rooms of ``accessibleTeams`` and of their workers.
Level 3 (worker): the rooms of ``accessibleWorkers``.
Rooms are recomputed on every pass, so a team gaining a worker (whose
reconcile queues the Humans) brings its room to the people who may see it.
The account is created with a derived initial password that is shown once
and never stored; with HICLAW_EMAIL_CREDENTIALS it is also mailed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q

from controller.clients.matrix import MatrixError, MatrixUnavailable
from controller.connections import Connections
from controller.models import Human, HumanPhase, Manager, MemberRole, PermissionLevel, Team, Worker
from controller.reconcilers import base
from controller.reconcilers.base import Result, mark_failed, mark_settled

logger = logging.getLogger(__name__)

STATUS_FIELDS = [*base.STATUS_FIELDS, "matrix_user_id", "rooms", "email_sent"]


class HumanReconciler:
    def __init__(self, connections: Connections):
        self.connections = connections

    def reconcile(self, human: Human) -> Result:
        matrix = self.connections.matrix
        if human.deletion_requested_at is not None:
            return self.delete(human)
        if matrix is None:
            human.set_condition("MatrixReady", "False", "Disabled", "HICLAW_MATRIX_URL is not set")
            return self.settled(human)
        try:
            admin = self.connections.matrix_admin()
            user_id = matrix.user_id(human.name)
            created = False
            if not matrix.user_exists(admin, user_id):
                display = human.typed_spec.display_name or human.name
                matrix.register(human.name, human.initial_password(), display_name=display)
                created = True
            human.matrix_user_id = user_id
            wanted = accessible_rooms(human)
            for room_id in sorted(wanted):
                matrix.invite(admin, room_id, user_id)
            for room_id in sorted(set(human.rooms) - wanted):
                matrix.kick(admin, room_id, user_id, reason="no longer accessible at this permission level")
            human.rooms = sorted(wanted)
        except MatrixUnavailable as error:
            return self.failed(human, "Unavailable", str(error))
        except MatrixError as error:
            return self.failed(human, error.errcode or "MatrixError", str(error))
        human.set_condition("MatrixReady", "True", "Ready", f"{len(human.rooms)} rooms")
        if created:
            self.mail_credentials(human)
        return self.settled(human)

    def mail_credentials(self, human: Human) -> None:
        if not (settings.HICLAW_EMAIL_CREDENTIALS and human.email):
            return
        body = (
            f"Hello {human.typed_spec.display_name or human.name},\n\n"
            f"Your HiClaw Matrix account is ready.\n\n"
            f"Homeserver: {settings.HICLAW_MATRIX_URL}\nUser: {human.matrix_user_id}\n"
            f"Initial password: {human.initial_password()}\n\nPlease change it when you first log in.\n"
        )
        try:
            send_mail("Your HiClaw account", body, None, [human.email])
        except OSError as error:
            logger.warning("human/%s: credentials e-mail not sent: %s", human.name, error)
            return
        human.email_sent = True

    def delete(self, human: Human) -> Result:
        if self.connections.matrix is not None and human.matrix_user_id:
            try:
                self.connections.matrix.deactivate(self.connections.matrix_admin(), human.matrix_user_id)
            except MatrixError as error:
                return self.failed(human, error.errcode or "MatrixError", str(error))
        human.delete()
        return Result()

    def settled(self, human: Human) -> Result:
        mark_settled(human, HumanPhase.ACTIVE)
        human.save(update_fields=STATUS_FIELDS)
        return Result()

    def failed(self, human: Human, reason: str, message: str) -> Result:
        # An account that was set up stays Active while a later pass retries.
        phase = HumanPhase.ACTIVE if human.phase == HumanPhase.ACTIVE else HumanPhase.PENDING
        result = mark_failed(human, "MatrixReady", reason, message, phase)
        human.save(update_fields=STATUS_FIELDS)
        return result


def accessible_rooms(human: Human) -> set[str]:
    """The room IDs the Human's permission level grants (rooms not created yet are left out)."""
    spec = human.typed_spec
    level = human.permission_level
    if level == PermissionLevel.ADMIN:
        rooms = set(Team.objects.values_list("team_room_id", flat=True))
        rooms |= set(Worker.objects.values_list("room_id", flat=True))
        rooms |= set(Manager.objects.values_list("room_id", flat=True))
    else:
        workers = Q(name__in=spec.accessible_workers or [])
        rooms = set()
        if level == PermissionLevel.TEAM:
            teams = spec.accessible_teams or []
            rooms = set(Team.objects.filter(name__in=teams).values_list("team_room_id", flat=True))
            workers |= Q(team__name__in=teams, role=MemberRole.WORKER)
        rooms |= set(Worker.objects.filter(workers).values_list("room_id", flat=True))
    return {room for room in rooms if room}


def queue_humans(connections: Connections) -> None:
    """A room appeared: every Human's reconcile decides whether it is theirs."""
    for name in Human.objects.filter(deletion_requested_at__isnull=True).values_list("name", flat=True):
        connections.enqueue("Human", name)
