"""The Matrix client against a real Synapse: accounts, rooms, messages and the admin API.

Every assertion reads the homeserver back (room state, members, admin API),
never the client's memory. Each test uses its own localparts. Only the
rate-limit and server-error paths use a small in-test HTTP stand-in, since a
real Synapse cannot be made to answer 429 or 502 on demand.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from controller.clients.matrix import MatrixClient, MatrixError, MatrixSession, MatrixUnavailable, get_matrix

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def matrix(synapse) -> MatrixClient:
    return synapse.client()


@pytest.fixture
def people(matrix):
    """Three fresh accounts: an owner creating rooms and two others."""
    return [matrix.register(unique(role), "pw-" + role) for role in ("owner", "alice", "bob")]


# --- accounts -----------------------------------------------------------------------


def test_shared_secret_registration_creates_admin_with_display_name(synapse, matrix):
    localpart = unique("boss")
    session = matrix.register(localpart, "secret-1", admin=True, display_name="The Boss")

    assert session.user_id == matrix.user_id(localpart) == f"@{localpart}:hiclaw.test"
    assert session.access_token and session.device_id
    info = matrix.user_info(synapse.admin, session.user_id)
    assert info["admin"] is True
    assert info["displayname"] == "The Boss"
    assert info["deactivated"] is False


def test_registration_token_flow_creates_user(synapse):
    matrix = synapse.client(use_token=True)
    localpart = unique("tok")

    session = matrix.register(localpart, "secret-2", display_name="Token User")

    info = matrix.user_info(synapse.admin, session.user_id)
    assert info["admin"] is False
    assert info["displayname"] == "Token User"


def test_registration_with_wrong_token_is_refused(synapse):
    matrix = MatrixClient(synapse.base_url, synapse.server_name, registration_token="not-a-token")

    with pytest.raises(MatrixError) as caught:
        matrix.register(unique("badtok"), "secret")

    assert caught.value.status == 401
    assert not isinstance(caught.value, MatrixUnavailable)


@pytest.mark.parametrize("use_token", [False, True], ids=["shared-secret", "registration-token"])
def test_registering_an_existing_user_logs_in(synapse, use_token):
    matrix = synapse.client(use_token=use_token)
    localpart = unique("again")
    first = matrix.register(localpart, "same-password")

    second = matrix.register(localpart, "same-password")

    assert second.user_id == first.user_id
    assert second.access_token != first.access_token
    assert matrix.joined_members(second, matrix.create_room(second, name="works")) == {first.user_id}


def test_login_by_localpart_or_user_id(matrix):
    localpart = unique("login")
    user_id = matrix.register(localpart, "pw").user_id

    assert matrix.login(localpart, "pw").user_id == user_id
    assert matrix.login(user_id, "pw").user_id == user_id


def test_bad_password_is_forbidden(matrix):
    localpart = unique("badpw")
    matrix.register(localpart, "right")

    with pytest.raises(MatrixError) as caught:
        matrix.login(localpart, "wrong")

    assert caught.value.errcode == "M_FORBIDDEN"
    assert caught.value.status == 403
    assert "wrong" not in str(caught.value)


def test_deactivate_is_visible_on_homeserver_and_blocks_login(synapse, matrix):
    localpart = unique("gone")
    user_id = matrix.register(localpart, "pw").user_id
    assert matrix.user_exists(synapse.admin, user_id)

    matrix.deactivate(synapse.admin, user_id)
    matrix.deactivate(synapse.admin, user_id)  # idempotent

    assert matrix.user_info(synapse.admin, user_id)["deactivated"] is True
    with pytest.raises(MatrixError):
        matrix.login(localpart, "pw")


def test_unknown_user_does_not_exist_and_deactivating_it_is_fine(synapse, matrix):
    user_id = matrix.user_id(unique("never"))

    assert matrix.user_exists(synapse.admin, user_id) is False
    matrix.deactivate(synapse.admin, user_id)


# --- rooms --------------------------------------------------------------------------


def test_create_room_with_invites_and_power_levels(matrix, people):
    owner, alice, bob = people

    room_id = matrix.create_room(
        owner,
        name="Team room",
        topic="work",
        invite=[alice.user_id, bob.user_id],
        power_levels={alice.user_id: 100, bob.user_id: 50},
    )

    assert matrix.room_members(owner, room_id) == {
        owner.user_id: "join",
        alice.user_id: "invite",
        bob.user_id: "invite",
    }
    users = matrix.power_levels(owner, room_id)["users"]
    assert users[alice.user_id] == 100
    assert users[bob.user_id] == 50
    # The invited user can join and is then a member the homeserver reports.
    assert matrix.join(alice, room_id) == room_id
    assert matrix.joined_members(owner, room_id) == {owner.user_id, alice.user_id}


@pytest.mark.parametrize("room_version", ["10", "12"])
def test_creator_keeps_full_power_whatever_the_room_version(matrix, people, room_version):
    owner, alice, _ = people

    room_id = matrix.create_room(owner, name="Versioned", power_levels={alice.user_id: 50}, room_version=room_version)

    levels = matrix.power_levels(owner, room_id)
    assert levels["users"][alice.user_id] == 50
    # Before version 12 the creator is listed at 100; from 12 on creators are implicitly above everyone.
    assert levels["users"].get(owner.user_id) == (100 if room_version == "10" else None)
    matrix.set_power_levels(owner, room_id, {alice.user_id: 75})
    assert matrix.power_levels(owner, room_id)["users"][alice.user_id] == 75


def test_create_room_with_same_alias_returns_same_room_and_converges(synapse, matrix, people):
    owner, alice, bob = people
    alias = unique("hiclaw-room")

    first = matrix.create_room(owner, name="Room", alias_localpart=alias, invite=[alice.user_id])
    second = matrix.create_room(
        owner, name="Room", alias_localpart=alias, invite=[alice.user_id, bob.user_id], power_levels={bob.user_id: 50}
    )

    assert second == first
    assert matrix.resolve_alias(owner, alias) == first
    assert matrix.room_members(owner, first) == {owner.user_id: "join", alice.user_id: "invite", bob.user_id: "invite"}
    assert matrix.power_levels(owner, first)["users"][bob.user_id] == 50
    rooms = requests.get(
        f"{synapse.base_url}/_synapse/admin/v1/rooms",
        params={"search_term": alias},
        headers={"Authorization": f"Bearer {synapse.admin.access_token}"},
        timeout=10,
    ).json()["rooms"]
    assert [room["room_id"] for room in rooms] == [first]


def test_resolve_unknown_alias_is_none(matrix, people):
    assert matrix.resolve_alias(people[0], unique("nowhere")) is None


def test_invite_and_kick_are_idempotent(matrix, people):
    owner, alice, bob = people
    room_id = matrix.create_room(owner, name="Idem")

    matrix.invite(owner, room_id, alice.user_id)
    matrix.invite(owner, room_id, alice.user_id)
    matrix.join(alice, room_id)
    matrix.invite(owner, room_id, alice.user_id)  # already joined
    matrix.invite(owner, room_id, bob.user_id)
    assert matrix.room_members(owner, room_id) == {owner.user_id: "join", alice.user_id: "join", bob.user_id: "invite"}

    matrix.kick(owner, room_id, alice.user_id, reason="done")
    matrix.kick(owner, room_id, alice.user_id)
    matrix.kick(owner, room_id, bob.user_id)  # rescinds the invite
    matrix.kick(owner, room_id, matrix.user_id(unique("stranger")))
    assert matrix.room_members(owner, room_id) == {owner.user_id: "join", alice.user_id: "leave", bob.user_id: "leave"}
    assert matrix.joined_members(owner, room_id) == {owner.user_id}


def test_set_power_levels_keeps_other_users(matrix, people):
    owner, alice, bob = people
    room_id = matrix.create_room(owner, name="Levels", power_levels={alice.user_id: 50})

    matrix.set_power_levels(owner, room_id, {bob.user_id: 20})

    users = matrix.power_levels(owner, room_id)["users"]
    assert users[alice.user_id] == 50
    assert users[bob.user_id] == 20


# --- messages -----------------------------------------------------------------------


def test_message_with_mention_carries_m_mentions_and_pill(matrix, people):
    owner, alice, _ = people
    room_id = matrix.create_room(owner, name="Chat", invite=[alice.user_id])
    matrix.join(alice, room_id)

    event_id = matrix.send_message(owner, room_id, "please review <this> & that", mentions=[alice.user_id])

    event = next(e for e in matrix.messages(alice, room_id) if e["event_id"] == event_id)
    content = event["content"]
    assert content["msgtype"] == "m.text"
    assert content["body"] == f"{alice.user_id} please review <this> & that"
    assert content["m.mentions"] == {"user_ids": [alice.user_id]}
    assert content["format"] == "org.matrix.custom.html"
    assert f'<a href="https://matrix.to/#/{alice.user_id}">{alice.user_id}</a>' in content["formatted_body"]
    assert "&lt;this&gt; &amp; that" in content["formatted_body"]


def test_resending_with_same_transaction_id_does_not_duplicate(matrix, people):
    owner = people[0]
    room_id = matrix.create_room(owner, name="Once")

    first = matrix.send_message(owner, room_id, "hello", txn_id="reconcile-1")
    second = matrix.send_message(owner, room_id, "hello", txn_id="reconcile-1")

    assert second == first
    assert [e["content"]["body"] for e in matrix.messages(owner, room_id) if e["type"] == "m.room.message"] == ["hello"]


def test_messages_pages_through_whole_room_in_order(matrix, people):
    owner = people[0]
    room_id = matrix.create_room(owner, name="Long")
    sent = [matrix.send_message(owner, room_id, f"message {n}") for n in range(25)]

    events = list(matrix.messages(owner, room_id, limit=10))

    assert events[0]["type"] == "m.room.create"
    assert [e["event_id"] for e in events if e["type"] == "m.room.message"] == sent
    assert len({e["event_id"] for e in events}) == len(events)


# --- failures and settings ----------------------------------------------------------


def test_unreachable_homeserver_is_unavailable_quickly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        matrix = MatrixClient(f"http://127.0.0.1:{port}", "hiclaw.test", registration_secret="x", timeout=2)
        started = time.monotonic()
        with pytest.raises(MatrixUnavailable) as caught:
            matrix.login("nobody", "pw")
    assert time.monotonic() - started < 2
    assert caught.value.status is None


def test_matrix_is_disabled_without_url(settings):
    settings.HICLAW_MATRIX_URL = ""
    assert get_matrix() is None


def test_matrix_client_from_settings(settings):
    settings.HICLAW_MATRIX_URL = "http://matrix.local:8008/"
    settings.HICLAW_MATRIX_DOMAIN = "matrix.local"
    settings.HICLAW_MATRIX_REGISTRATION_TOKEN = "tok"

    matrix = get_matrix()

    assert matrix.base_url == "http://matrix.local:8008"
    assert matrix.user_id("alice") == "@alice:matrix.local"
    assert matrix.registration_token == "tok"
    assert "tok" not in repr(matrix)


def test_matrix_url_without_domain_is_a_configuration_error(settings):
    settings.HICLAW_MATRIX_URL = "http://matrix.local:8008"
    settings.HICLAW_MATRIX_DOMAIN = ""
    with pytest.raises(ImproperlyConfigured, match="HICLAW_MATRIX_DOMAIN"):
        get_matrix()


def test_rate_limited_call_is_resent_after_retry_after_with_same_transaction(rate_limiting_server):
    matrix = MatrixClient(rate_limiting_server.url, "hiclaw.test")
    session = MatrixSession("@bot:hiclaw.test", "token")

    assert matrix.send_message(session, "!room:hiclaw.test", "hi") == "$event"

    first, second = rate_limiting_server.paths
    assert first == second  # the same transaction ID, so the homeserver cannot duplicate the message


def test_server_error_is_unavailable(rate_limiting_server):
    matrix = MatrixClient(rate_limiting_server.url, "hiclaw.test")

    with pytest.raises(MatrixUnavailable) as caught:
        matrix.login("broken", "pw")

    assert caught.value.status == 502


def test_credentials_never_reach_the_log(matrix, caplog):
    caplog.set_level(logging.DEBUG)
    localpart = unique("quiet")

    session = matrix.register(localpart, "hunter2-password")
    matrix.register(localpart, "hunter2-password")
    with pytest.raises(MatrixError):
        matrix.login(localpart, "wrong-password")

    assert "hunter2-password" not in caplog.text
    assert "wrong-password" not in caplog.text
    assert session.access_token not in caplog.text
    assert session.access_token not in repr(session)


@pytest.fixture
def rate_limiting_server():
    """An in-test stand-in: answers the first PUT with 429, then succeeds; any POST fails with 502."""

    class Handler(BaseHTTPRequestHandler):
        paths: list[str] = []

        def do_PUT(self):
            self.paths.append(self.path)
            if len(self.paths) == 1:
                self._reply(429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 50})
            else:
                self._reply(200, {"event_id": "$event"})

        def do_POST(self):
            self._reply(502, {})

        def _reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", paths=Handler.paths)
    server.shutdown()
    server.server_close()
