"""Reading rooms against a real Synapse: joined rooms, history backwards page by page, room names."""

from __future__ import annotations

import uuid

import pytest

from controller.clients.matrix import MatrixClient, MatrixError, MatrixSession

pytestmark = pytest.mark.slow


@pytest.fixture
def matrix(synapse) -> MatrixClient:
    return synapse.client()


def account(matrix: MatrixClient, role: str) -> MatrixSession:
    return matrix.register(f"{role}-{uuid.uuid4().hex[:8]}", f"pw-{role}")


def test_joined_rooms_lists_joined_rooms_only(matrix):
    owner, guest = account(matrix, "owner"), account(matrix, "guest")
    joined = matrix.create_room(owner, name="Joined", invite=[guest.user_id])
    invited_only = matrix.create_room(owner, name="Invited", invite=[guest.user_id])
    matrix.join(guest, joined)

    assert set(matrix.joined_rooms(owner)) >= {joined, invited_only}
    assert matrix.joined_rooms(guest) == [joined]


def test_messages_page_reads_newest_first_until_the_start_of_the_room(matrix):
    owner = account(matrix, "pager")
    room_id = matrix.create_room(owner, name="Paged")
    sent = [matrix.send_message(owner, room_id, f"message {n}") for n in range(12)]

    seen: list[dict] = []
    start, pages = None, 0
    while True:
        chunk, start = matrix.messages_page(owner, room_id, start=start, limit=5)
        seen.extend(chunk)
        pages += 1
        if start is None:
            break
        assert pages < 20, "paging never ended"

    messages = [event["event_id"] for event in seen if event["type"] == "m.room.message"]
    assert messages == list(reversed(sent))
    assert seen[-1]["type"] == "m.room.create"  # the oldest event comes last
    assert pages >= 3


def test_room_name_is_empty_for_a_room_without_one(matrix):
    owner = account(matrix, "namer")
    named = matrix.create_room(owner, name="Team room")
    unnamed = matrix.create_room(owner, name="")
    assert matrix.room_name(owner, named) == "Team room"
    assert matrix.room_name(owner, unnamed) == ""


def test_reading_a_room_one_has_not_joined_is_refused(matrix):
    owner, stranger = account(matrix, "keeper"), account(matrix, "stranger")
    room_id = matrix.create_room(owner, name="Private")
    with pytest.raises(MatrixError) as refused:
        matrix.messages_page(stranger, room_id)
    assert refused.value.status == 403
