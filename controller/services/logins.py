"""Dashboard logins for people: create one, set its password, link it to a Human.

What a login may see follows from who it is (controller/policy): a superuser or a
login linked to a level-1 Human is an admin; a login linked to a level-2 Human is
the team admin of that Human's ``accessibleTeams``; a login whose name is a Team's
``spec.admin.name`` is that team's admin. ``give_login`` makes the login and says
which of these it now is, so the operator sees at once whether it will show anything.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from controller.errors import DomainError
from controller.models import Human
from controller.policy import ADMIN, TEAM_ADMIN, principal_for_user


class LoginRefused(DomainError):
    """The login cannot be made as asked; ``field`` is the option at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class GivenLogin:
    username: str
    created: bool
    password: str  # the generated password, shown once; "" when the caller chose it
    sees: str  # what the login sees, in words


def give_login(username: str, *, human: str = "", password: str = "") -> GivenLogin:
    """Create the login ``username`` (or reset the password of an existing one that is not a
    superuser), link it to the Human ``human`` when given, and say what it will see.

    Without ``password`` one is generated and returned once; only its hash is stored.
    """
    user_model = get_user_model()
    try:
        user_model.username_validator(username)
    except ValidationError as error:
        raise LoginRefused("username", f"{' '.join(error.messages)}") from None
    generated = "" if password else secrets.token_urlsafe(12)
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        if user.is_superuser:
            raise LoginRefused("username", f"{username} is a superuser; change its password with changepassword")
        try:
            validate_password(password or generated, user)
        except ValidationError as error:
            raise LoginRefused("password", f"{' '.join(error.messages)}") from None
        user.set_password(password or generated)
        user.is_active = True
        user.save()
        if human:
            _link(user, human)
    return GivenLogin(username, created, generated, describe_scope(user))


def _link(user, human_name: str) -> None:
    human = Human.objects.select_for_update().filter(name=human_name, deletion_requested_at__isnull=True).first()
    if human is None:
        raise LoginRefused("human", f"no Human named {human_name!r} (apply a Human manifest first)")
    if human.user is not None and human.user.pk != user.pk:
        raise LoginRefused("human", f"{human_name} is linked to the login {human.user.get_username()} already")
    Human.objects.filter(user=user).exclude(pk=human.pk).update(user=None)  # one Human per login
    human.user = user
    human.save(update_fields=["user"])


def describe_scope(user) -> str:
    """What the dashboard shows this login, in words."""
    principal = principal_for_user(user)
    if principal.identity == ADMIN:
        return "everything (admin)"
    if principal.identity == TEAM_ADMIN:
        return f"team admin of {', '.join(sorted(principal.teams))}"
    return "nothing yet: link it to a Human of level 1 or 2 (--human), or name it as a Team's spec.admin.name"


def login_of(human: Human, usernames: set[str]) -> str:
    """How a Human reaches the dashboard, for the Humans page: its linked login, a login of
    the same name (which counts where a login name is matched: a Team's admin, a
    DebugWorker's allowedUsers), or "" for none. ``usernames``: logins named like the Humans shown."""
    if human.user is not None:  # select_related("user") when listing
        return f"{human.user.get_username()} (linked)"
    if human.name in usernames:
        return f"{human.name} (same name)"
    return ""
