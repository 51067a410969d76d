"""A symbolic link inside one agent's workspace must not reach another agent's files.

With filesystem storage an agent that can touch its workspace directory (the
process backend runs agents on the controller's host) can make a link there.
Containment is per key: storage follows no link at all, so a key under
``agents/<name>/`` only ever names a file under that directory — checked
against the agent's own prefix, not merely the storage root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from controller.clients.storage import FileStorage, StorageError
from controller.connections import default_connections
from controller.models import AgentToken
from controller.services.apply import apply_text

WORKERS = (
    "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: ada}\nspec: {model: q}\n---\n"
    "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: bob}\nspec: {model: q}\n"
)


def links_into_bob(root: Path) -> None:
    """ada's workspace gets a link to bob's directory and one to bob's SOUL.md."""
    (root / "agents" / "ada" / "peer").symlink_to(root / "agents" / "bob")
    (root / "agents" / "ada" / "soul-of-bob").symlink_to(root / "agents" / "bob" / "SOUL.md")


@pytest.fixture
def storage(tmp_path) -> FileStorage:
    storage = FileStorage(tmp_path / "store")
    storage.put("agents/ada/SOUL.md", b"ada's soul")
    storage.put("agents/bob/SOUL.md", b"bob's soul")
    links_into_bob(storage.root)
    return storage


# --- the storage client ----------------------------------------------------------------------
def test_reading_through_a_link_to_another_prefix_is_refused(storage):
    for key in ("agents/ada/peer/SOUL.md", "agents/ada/soul-of-bob"):
        with pytest.raises(StorageError, match="symbolic link"):
            storage.get(key)
        with pytest.raises(StorageError, match="symbolic link"):
            storage.stat(key)


def test_writing_through_a_link_to_another_prefix_is_refused_and_changes_nothing(storage):
    storage.put("agents/ada/sessions/today.log", b"turn 1")
    with pytest.raises(StorageError, match="symbolic link"):
        storage.put("agents/ada/peer/SOUL.md", b"overwritten by ada")
    with pytest.raises(StorageError, match="symbolic link"):
        storage.put("agents/ada/peer/new.md", b"planted by ada")
    with pytest.raises(StorageError, match="symbolic link"):
        storage.put("agents/ada/soul-of-bob", b"overwritten by ada")
    with pytest.raises(StorageError, match="symbolic link"):
        storage.copy_prefix("agents/ada/sessions/", "agents/ada/peer/")
    assert storage.get("agents/bob/SOUL.md") == b"bob's soul"
    assert sorted(p.name for p in (storage.root / "agents" / "bob").iterdir()) == ["SOUL.md"]


def test_listing_a_prefix_shows_nothing_behind_a_link(storage):
    assert [info.key for info in storage.list("agents/ada/")] == ["agents/ada/SOUL.md"]
    with pytest.raises(StorageError, match="symbolic link"):
        list(storage.list("agents/ada/peer/"))


def test_a_link_to_a_file_of_the_same_workspace_is_not_an_object_either(storage):
    (storage.root / "agents" / "ada" / "alias").symlink_to(storage.root / "agents" / "ada" / "SOUL.md")
    with pytest.raises(StorageError, match="symbolic link"):
        storage.get("agents/ada/alias")
    assert [info.key for info in storage.list("agents/ada/")] == ["agents/ada/SOUL.md"]


def test_ordinary_keys_still_work(storage):
    storage.put("agents/ada/sessions/today.log", b"turn 1")
    assert storage.get("agents/ada/sessions/today.log") == b"turn 1"
    storage.delete("agents/ada/sessions/today.log")
    assert storage.stat("agents/ada/sessions/today.log") is None


# --- the workspace API, as the agent -----------------------------------------------------------
@pytest.fixture
def ada(db) -> APIClient:
    apply_text(WORKERS)
    storage = default_connections().storage
    storage.put("agents/ada/SOUL.md", b"ada's soul")
    storage.put("agents/bob/SOUL.md", b"bob's soul")
    links_into_bob(storage.root)
    _, clear = AgentToken.mint("worker", "ada")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


@pytest.mark.parametrize("path", ["peer/SOUL.md", "soul-of-bob"])
def test_the_agent_cannot_read_another_workspace_through_a_link(ada, path):
    response = ada.get(f"/api/v1/workspace/files/{path}")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "path" and "symbolic link" in body["message"]
    assert b"bob's soul" not in response.content


@pytest.mark.parametrize("path", ["peer/SOUL.md", "peer/planted.md", "soul-of-bob"])
def test_the_agent_cannot_write_another_workspace_through_a_link(ada, path):
    response = ada.put(f"/api/v1/workspace/files/{path}", b"from ada", content_type="application/octet-stream")
    assert response.status_code == 400
    assert response.json()["field"] == "path"
    storage = default_connections().storage
    assert storage.get("agents/bob/SOUL.md") == b"bob's soul"
    assert [info.key for info in storage.list("agents/bob/")] == ["agents/bob/SOUL.md"]


def test_the_agents_listing_shows_only_its_own_files(ada):
    listing = ada.get("/api/v1/workspace/files").json()["files"]
    assert [entry["path"] for entry in listing] == ["SOUL.md"]
