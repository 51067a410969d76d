"""``manage.py hiclaw_login``: a person gets a dashboard login that shows what their Human grants."""

from __future__ import annotations

import io
from unittest.mock import patch

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from controller.models import Human
from controller.services.apply import apply_text

pytestmark = pytest.mark.django_db

WORLD = """\
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-l}
spec: {leader: {name: l-lead, model: q}, workers: [{name: l-dev, model: q}], debug: {enabled: false}}
---
apiVersion: hiclaw.io/v1beta1
kind: Human
metadata: {name: lena}
spec: {displayName: Lena, permissionLevel: 2, accessibleTeams: [team-l]}
---
apiVersion: hiclaw.io/v1beta1
kind: Human
metadata: {name: omar}
spec: {displayName: Omar, permissionLevel: 3, accessibleWorkers: [l-dev]}
"""


def run(*args: str, stdin: str = "") -> list[str]:
    out = io.StringIO()
    with patch("sys.stdin", io.StringIO(stdin)):  # what an operator pipes in
        call_command("hiclaw_login", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture(autouse=True)
def world():
    apply_text(WORLD)


def test_a_login_linked_to_a_team_admin_human_sees_that_team_with_the_password_shown_once():
    lines = run("lena", "--human", "lena")
    assert lines[0] == "login lena created; the dashboard shows it team admin of team-l"
    password = lines[-1]
    user = get_user_model().objects.get(username="lena")
    assert Human.objects.get(name="lena").user == user
    assert password not in user.password and user.check_password(password)  # only the hash is kept
    client = Client()
    answer = client.post("/accounts/login/", {"username": "lena", "password": password}, follow=True)
    assert answer.status_code == 200 and answer.wsgi_request.user.get_username() == "lena"
    assert "team-l" in client.get("/").content.decode()


def test_a_chosen_password_comes_from_stdin_and_is_not_printed():
    lines = run("lena", "--human", "lena", "--password-stdin", stdin="a long enough passphrase 42\n")
    assert lines == ["login lena created; the dashboard shows it team admin of team-l"]
    assert get_user_model().objects.get(username="lena").check_password("a long enough passphrase 42")


def test_a_second_run_sets_a_new_password_and_says_updated():
    first = run("lena", "--human", "lena")[-1]
    lines = run("lena")
    assert lines[0].startswith("login lena updated;")
    user = get_user_model().objects.get(username="lena")
    assert not user.check_password(first) and user.check_password(lines[-1])


def test_a_login_with_no_grant_is_told_it_sees_nothing_yet():
    lines = run("nobody")
    assert "nothing yet: link it to a Human of level 1 or 2 (--human)" in lines[0]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("lena", "--human", "ghost"), "", "human: no Human named 'ghost'"),
        (("bad name!",), "", "username: "),
        (("lena", "--password-stdin"), "password\n", "password: "),
        (("lena", "--password-stdin"), "", "password: standard input was empty"),
    ],
)
def test_refusals_name_the_field_and_create_nothing(args, stdin, message):
    with pytest.raises(CommandError, match=message):
        run(*args, stdin=stdin)
    assert not get_user_model().objects.filter(username=args[0]).exists()


def test_a_human_linked_to_another_login_is_not_taken_over():
    run("lena", "--human", "lena")
    with pytest.raises(CommandError, match="human: lena is linked to the login lena already"):
        run("someone", "--human", "lena")
    assert not get_user_model().objects.filter(username="someone").exists()


def test_a_superuser_is_left_to_changepassword():
    get_user_model().objects.create_superuser("boss", password="x" * 20)
    with pytest.raises(CommandError, match="username: boss is a superuser"):
        run("boss")


def test_the_humans_page_shows_each_humans_login():
    run("lena", "--human", "lena")
    get_user_model().objects.create_user("omar", password="y" * 20)
    root = Client()
    root.force_login(get_user_model().objects.create_superuser("root", password="z" * 20))
    page = root.get("/humans/").content.decode()
    assert "lena (linked)" in page and "omar (same name)" in page
