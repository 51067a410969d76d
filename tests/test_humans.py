"""Humans get exactly the rooms their permission level grants, on a real Synapse.

Backend and storage are the embedded ones (process, files): rooms are what
matters here. The gateway is disabled.
"""

from __future__ import annotations

import uuid

import pytest
from django.core import mail

from controller.models import Human, Team, Worker
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def driver(matrix_driver):
    return matrix_driver


def team(name: str, workers: list[str]) -> dict:
    members = [{"name": f"{name}-{w}", "model": "q"} for w in workers]
    spec = {"leader": {"name": f"{name}-lead", "model": "q"}, "workers": members, "debug": {"enabled": False}}
    return manifest("Team", name, spec)


def human(name: str, level: int, **grants: list[str]) -> dict:
    """Human ``name`` of permission ``level``; ``grants`` are its accessibleTeams / accessibleWorkers."""
    spec = {"displayName": name, "email": f"{name}@example.com", "permissionLevel": level, **grants}
    return manifest("Human", name, spec)


def test_each_level_gets_exactly_its_rooms_and_follows_team_changes(driver, settings):
    settings.HICLAW_EMAIL_CREDENTIALS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    tag = uuid.uuid4().hex[:5]
    red, blue = f"red{tag}", f"blue{tag}"
    apply_text(to_yaml(team(red, ["a"]), team(blue, ["a"])))
    apply_text(to_yaml(manifest("Worker", f"solo{tag}", {"model": "q"})))
    names = list(Worker.objects.values_list("name", flat=True))
    driver.converge(*[("Worker", n) for n in names], ("Team", red), ("Team", blue))

    root, lead, viewer = f"root{tag}", f"lead{tag}", f"view{tag}"
    apply_text(
        to_yaml(
            human(root, 1),
            human(lead, 2, accessibleTeams=[red]),
            human(viewer, 3, accessibleWorkers=[f"solo{tag}"]),
        )
    )
    driver.converge(("Human", root), ("Human", lead), ("Human", viewer))

    def room(worker: str) -> str:
        return Worker.objects.get(name=worker).room_id

    def team_room(name: str) -> str:
        return Team.objects.get(name=name).team_room_id

    def rooms_of(person: str) -> set[str]:
        user = driver.connections.matrix.user_id(person)
        admin = driver.connections.admin_session
        everything = {r for r in Worker.objects.values_list("room_id", flat=True)} | {
            r for r in Team.objects.values_list("team_room_id", flat=True)
        }
        return {
            r for r in everything if driver.connections.matrix.room_members(admin, r).get(user) in ("join", "invite")
        }

    all_rooms = {room(n) for n in names} | {team_room(red), team_room(blue)}
    assert rooms_of(root) == all_rooms
    assert rooms_of(lead) == {team_room(red), room(f"{red}-a")}
    assert rooms_of(viewer) == {room(f"solo{tag}")}
    assert Human.objects.get(name=lead).rooms == sorted({team_room(red), room(f"{red}-a")})

    # Credentials were mailed once, with the derived initial password, which logs in.
    sent = [m for m in mail.outbox if m.to == [f"{lead}@example.com"]]
    assert len(sent) == 1 and Human.objects.get(name=lead).email_sent
    password = Human.objects.get(name=lead).initial_password()
    assert password in sent[0].body
    assert driver.connections.matrix.login(lead, password).user_id == driver.connections.matrix.user_id(lead)

    # The red team gains a worker: its room reaches the level-1 and level-2 people.
    apply_text(to_yaml(team(red, ["a", "b"])))
    driver.converge(("Worker", f"{red}-b"), ("Team", red))
    assert room(f"{red}-b") in rooms_of(root)
    assert rooms_of(lead) == {team_room(red), room(f"{red}-a"), room(f"{red}-b")}
    assert rooms_of(viewer) == {room(f"solo{tag}")}

    # Narrowing access removes the person from the rooms no longer granted.
    apply_text(to_yaml(human(lead, 3, accessibleWorkers=[f"{red}-b"])))
    driver.converge(("Human", lead))
    assert rooms_of(lead) == {room(f"{red}-b")}
