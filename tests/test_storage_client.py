"""The storage client: one behaviour suite run against the directory storage and a real S3 server (moto)."""

from __future__ import annotations

import io
import os
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from controller.clients.storage import (
    TEMP_PREFIX,
    FileStorage,
    InvalidKey,
    ObjectNotFound,
    S3Storage,
    Storage,
    StorageError,
    get_storage,
    normalize_key,
    storage_from_url,
)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.slow)])
def storage(request, tmp_path) -> Storage:
    """A fresh, empty storage: a new directory, or a new bucket on the session's moto server."""
    if request.param == "file":
        return storage_from_url(f"file://{tmp_path / 'storage'}")
    return storage_from_url(request.getfixturevalue("s3_storage_url"))


def keys(storage: Storage, prefix: str = "", recursive: bool = True) -> list[str]:
    return [info.key for info in storage.list(prefix, recursive=recursive)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


BINARY = bytes(range(256)) * 3


# --- Objects -----------------------------------------------------------------------


def test_put_then_get_returns_the_same_binary_data(storage):
    storage.put("agents/alice/blob.bin", BINARY)
    assert storage.get("agents/alice/blob.bin") == BINARY


def test_put_replaces_an_existing_object(storage):
    storage.put("agents/alice/SOUL.md", b"old")
    storage.put("agents/alice/SOUL.md", b"new soul", content_type="text/markdown")
    assert storage.get("agents/alice/SOUL.md") == b"new soul"


def test_empty_object_round_trips(storage):
    storage.put("empty", b"")
    assert storage.get("empty") == b""
    assert storage.stat("empty").size == 0


def test_get_of_missing_key_raises_object_not_found(storage):
    with pytest.raises(ObjectNotFound, match="nothing-here"):
        storage.get("agents/nothing-here")
    assert issubclass(ObjectNotFound, StorageError)


def test_stat_reports_size_etag_and_aware_modification_time(storage):
    before = time.time()
    storage.put("agents/alice/config.json", b'{"model": "qwen"}')
    info = storage.stat("agents/alice/config.json")
    assert info.key == "agents/alice/config.json"
    assert info.size == 17
    assert info.etag
    assert info.last_modified.utcoffset() == timedelta(0)
    assert info.last_modified.microsecond == 0
    assert before - 2 <= info.last_modified.timestamp() <= time.time() + 2


def test_stat_of_missing_key_is_none(storage):
    assert storage.stat("agents/nobody/config.json") is None


def test_stat_of_a_directory_like_prefix_is_none(storage):
    storage.put("agents/alice/config.json", b"{}")
    assert storage.stat("agents/alice") is None
    assert not storage.exists("agents/alice")


def test_etag_follows_the_content(storage):
    storage.put("a", b"one")
    storage.put("b", b"one")
    first = storage.stat("a").etag
    assert storage.stat("b").etag == first
    storage.put("a", b"two")
    assert storage.stat("a").etag != first


def test_exists_tells_whether_an_object_is_stored(storage):
    assert not storage.exists("agents/alice/SOUL.md")
    storage.put("agents/alice/SOUL.md", b"x")
    assert storage.exists("agents/alice/SOUL.md")


def test_delete_removes_the_object(storage):
    storage.put("agents/alice/SOUL.md", b"x")
    storage.delete("agents/alice/SOUL.md")
    assert not storage.exists("agents/alice/SOUL.md")
    assert keys(storage) == []


def test_delete_of_missing_key_is_not_an_error(storage):
    storage.delete("agents/ghost/SOUL.md")
    storage.put("agents/alice/SOUL.md", b"x")
    storage.delete("agents/alice")  # a directory-like prefix is no object either
    assert storage.exists("agents/alice/SOUL.md")


# --- Listing -----------------------------------------------------------------------


def test_list_is_sorted_by_key(storage):
    for key in ["a0", "a/b", "b", "a-c", "a/a/z", "A"]:
        storage.put(key, b"x")
    assert keys(storage) == ["A", "a-c", "a/a/z", "a/b", "a0", "b"]


def test_list_gives_size_and_etag_like_stat(storage):
    storage.put("agents/alice/SOUL.md", b"soul")
    [info] = storage.list("agents/alice")
    assert info == storage.stat("agents/alice/SOUL.md")


def test_list_prefix_is_directory_like(storage):
    for key in ["agents/a/SOUL.md", "agents/ab/SOUL.md", "agents/a.md", "agents/a/skills/x.md"]:
        storage.put(key, b"x")
    assert keys(storage, "agents/a") == ["agents/a/SOUL.md", "agents/a/skills/x.md"]
    assert keys(storage, "agents/a/") == keys(storage, "agents/a")
    assert keys(storage, "./agents//a/") == keys(storage, "agents/a")


def test_list_with_empty_prefix_gives_everything(storage):
    storage.put("x/1", b"1")
    storage.put("y", b"2")
    assert keys(storage, "") == keys(storage, ".") == ["x/1", "y"]


def test_list_of_missing_prefix_is_empty(storage):
    storage.put("agents/alice/SOUL.md", b"x")
    assert keys(storage, "agents/bob") == []
    assert keys(storage, "agents/alice/SOUL.md") == []  # an object is not a directory


def test_shallow_list_gives_only_the_objects_directly_under_the_prefix(storage):
    for key in ["debug/d1/output/report.md", "debug/d1/output/raw/x.json", "debug/d1/output/z.txt", "top"]:
        storage.put(key, b"x")
    assert keys(storage, "debug/d1/output", recursive=False) == [
        "debug/d1/output/report.md",
        "debug/d1/output/z.txt",
    ]
    assert keys(storage, "", recursive=False) == ["top"]


# --- Prefix operations -------------------------------------------------------------


def test_delete_prefix_removes_only_that_prefix_and_counts(storage):
    for key in ["agents/a/SOUL.md", "agents/a/skills/x.md", "agents/ab/SOUL.md", "agents/a.md"]:
        storage.put(key, b"x")
    assert storage.delete_prefix("agents/a") == 2
    assert keys(storage) == ["agents/a.md", "agents/ab/SOUL.md"]


def test_delete_prefix_of_missing_prefix_removes_nothing(storage):
    assert storage.delete_prefix("agents/nobody") == 0


@pytest.mark.parametrize("prefix", ["", ".", "./", ".//"])
def test_delete_prefix_refuses_to_delete_everything(storage, prefix):
    storage.put("agents/a/SOUL.md", b"x")
    with pytest.raises(InvalidKey, match="refusing to delete every object"):
        storage.delete_prefix(prefix)
    assert storage.exists("agents/a/SOUL.md")


def test_copy_prefix_copies_each_object_to_the_same_relative_key(storage):
    storage.put("system/skills/v2/search/SKILL.md", b"search")
    storage.put("system/skills/v2/README.md", BINARY)
    storage.put("system/skills/v20/other.md", b"not part of v2")
    assert storage.copy_prefix("system/skills/v2", "agents/alice/skills") == 2
    assert keys(storage, "agents") == ["agents/alice/skills/README.md", "agents/alice/skills/search/SKILL.md"]
    assert storage.get("agents/alice/skills/README.md") == BINARY
    assert storage.get("system/skills/v2/search/SKILL.md") == b"search"  # the source stays


def test_copy_prefix_overwrites_but_never_deletes_at_the_destination(storage):
    storage.put("src/a", b"new")
    storage.put("dst/a", b"old")
    storage.put("dst/extra", b"kept")
    assert storage.copy_prefix("src", "dst") == 1
    assert storage.get("dst/a") == b"new"
    assert storage.get("dst/extra") == b"kept"


def test_copy_prefix_of_missing_prefix_copies_nothing(storage):
    assert storage.copy_prefix("nothing", "dst") == 0
    assert keys(storage) == []


@pytest.mark.parametrize(("src", "dst"), [("a", "a/b"), ("a/b", "a"), ("a", "./a/"), ("", "dst"), ("src", "")], ids=str)
def test_copy_prefix_refuses_overlapping_prefixes(storage, src, dst):
    storage.put("a/x", b"x")
    with pytest.raises(InvalidKey, match="overlap"):
        storage.copy_prefix(src, dst)
    assert keys(storage) == ["a/x"]


# --- Keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("./a/b", "a/b"),
        ("a//b", "a/b"),
        ("a/./b", "a/b"),
        ("././a", "a"),
        ("a///b//c", "a/b/c"),
        ("ünï/çødé", "ünï/çødé"),
    ],
)
def test_keys_are_normalised_the_same_way_everywhere(storage, raw, canonical):
    assert normalize_key(raw) == canonical
    storage.put(raw, b"x")
    assert keys(storage) == [canonical]
    assert storage.get(canonical) == storage.get(raw) == b"x"
    assert storage.stat(raw).key == canonical
    storage.delete(raw)
    assert keys(storage) == []


INVALID_KEYS = [
    ("..", "'..' segment"),
    ("agents/../etc/passwd", "'..' segment"),
    ("agents/alice/..", "'..' segment"),
    ("/etc/passwd", "absolute"),
    ("//server/share", "absolute"),
    ("agents\\alice", "backslash"),
    ("agents/\x00alice", "NUL"),
    (f"agents/{TEMP_PREFIX}x", "reserved"),
    ("x" * 1025, "longer than 1024 bytes"),
    ("agents/\udcff", "not valid Unicode"),
]


@pytest.mark.parametrize(("key", "rule"), [*INVALID_KEYS, ("", "empty"), ("./", "empty"), ("agents/", "ends with '/'")])
def test_invalid_keys_are_refused_by_every_method_naming_key_and_rule(storage, key, rule):
    calls = [
        lambda: storage.put(key, b"x"),
        lambda: storage.get(key),
        lambda: storage.stat(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
    ]
    for call in calls:
        with pytest.raises(InvalidKey, match=rule) as caught:
            call()
        assert repr(key)[:40] in str(caught.value)
        assert isinstance(caught.value, ValueError)
    assert keys(storage) == []


@pytest.mark.parametrize(("prefix", "rule"), INVALID_KEYS)
def test_invalid_prefixes_are_refused_by_every_prefix_method(storage, prefix, rule):
    storage.put("agents/a/SOUL.md", b"x")
    calls = [
        lambda: storage.list(prefix),  # refused at the call, before iterating
        lambda: storage.delete_prefix(prefix),
        lambda: storage.copy_prefix(prefix, "dst"),
        lambda: storage.copy_prefix("agents", prefix),
    ]
    for call in calls:
        with pytest.raises(InvalidKey, match=rule):
            call()
    assert keys(storage) == ["agents/a/SOUL.md"]


def test_normalised_prefixes_end_with_a_slash_unless_empty():
    assert normalize_key("agents/a", prefix=True) == "agents/a/"
    assert normalize_key("./agents//a/", prefix=True) == "agents/a/"
    assert normalize_key("", prefix=True) == normalize_key("./", prefix=True) == ""


# --- Health ------------------------------------------------------------------------


def test_ping_succeeds_on_a_usable_storage(storage):
    storage.ping()


def test_unreachable_s3_endpoint_fails_fast_with_storage_error():
    storage = storage_from_url(f"s3://key:secret@127.0.0.1:{closed_port()}/bucket?secure=false")
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"127\.0\.0\.1") as caught:
        storage.ping()
    assert "secret" not in str(caught.value)
    with pytest.raises(StorageError):
        storage.get("agents/a/SOUL.md")
    with pytest.raises(StorageError):
        list(storage.list("agents"))
    assert time.monotonic() - started < 10


def test_file_storage_ping_fails_when_the_root_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StorageError, match="root directory"):
        FileStorage(tmp_path / "file" / "storage").ping()


# --- S3 specifics ------------------------------------------------------------------


@pytest.mark.slow
def test_s3_bucket_is_created_on_first_use_once(s3_storage_url):
    first, second = storage_from_url(s3_storage_url), storage_from_url(s3_storage_url)
    first.put("a", b"1")
    second.put("b", b"2")  # the bucket exists already: no error
    second.ping()
    assert keys(first) == ["a", "b"]


@pytest.mark.slow
def test_s3_listing_skips_names_that_are_no_valid_key(s3_storage_url):
    storage = storage_from_url(s3_storage_url)
    storage.put("agents/a/SOUL.md", b"x")
    # Consoles and other tools write folder markers such as "agents/a/"; they are no objects here.
    storage._client.put_object(storage.bucket, "agents/a/", io.BytesIO(b""), 0)
    assert keys(storage) == ["agents/a/SOUL.md"]
    assert storage.delete_prefix("agents/a") == 2  # the marker goes too
    assert list(storage._client.list_objects(storage.bucket, recursive=True)) == []


# --- File specifics ----------------------------------------------------------------


def test_file_storage_writes_atomically_and_leaves_no_temporary_file(tmp_path):
    storage = FileStorage(tmp_path)
    storage.put("agents/a/SOUL.md", b"x" * 100_000)
    assert sorted(p.name for p in (tmp_path / "agents" / "a").iterdir()) == ["SOUL.md"]


def test_file_storage_listing_skips_temporary_files_symlinks_and_names_that_are_no_key(tmp_path):
    storage = FileStorage(tmp_path)
    storage.put("agents/a/SOUL.md", b"x")
    (tmp_path / "agents" / "a" / f"{TEMP_PREFIX}abc").write_bytes(b"half written")
    (tmp_path / "agents" / "a" / "link").symlink_to(tmp_path / "agents" / "a" / "SOUL.md")
    (tmp_path / "agents" / "a" / "back\\slash").write_bytes(b"made by a worker")
    Path(os.fsdecode(bytes(tmp_path / "agents" / "a") + b"/latin1-\xe9")).write_bytes(b"not UTF-8")
    assert keys(storage) == ["agents/a/SOUL.md"]


def test_file_storage_removes_directories_emptied_by_deletes(tmp_path):
    storage = FileStorage(tmp_path)
    storage.put("agents/a/skills/x/SKILL.md", b"x")
    storage.put("agents/b/SOUL.md", b"x")
    storage.delete("agents/a/skills/x/SKILL.md")
    assert not (tmp_path / "agents" / "a").exists()
    storage.delete_prefix("agents/b")
    assert list(tmp_path.iterdir()) == []


def test_file_storage_refuses_an_object_where_a_directory_is_and_the_reverse(tmp_path):
    storage = FileStorage(tmp_path)
    storage.put("agents/a/SOUL.md", b"x")
    with pytest.raises(StorageError, match="other objects are stored under 'agents/a/'"):
        storage.put("agents/a", b"x")
    with pytest.raises(StorageError, match="a parent of it is an object"):
        storage.put("agents/a/SOUL.md/nested", b"x")


def test_file_storage_does_not_follow_symlinks_out_of_its_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    storage = FileStorage(tmp_path / "root")
    storage.put("agents/a/SOUL.md", b"x")
    (tmp_path / "root" / "agents" / "a" / "escape").symlink_to(outside)
    with pytest.raises(StorageError, match="symbolic link"):
        storage.get("agents/a/escape/secret.txt")
    with pytest.raises(StorageError, match="symbolic link"):
        storage.put("agents/a/escape/new.txt", b"x")
    assert keys(storage) == ["agents/a/SOUL.md"]
    assert not (outside / "new.txt").exists()


# --- Configuration -----------------------------------------------------------------


def test_file_url_gives_a_file_storage_on_that_directory(tmp_path):
    storage = storage_from_url(f"file://{tmp_path}/store%20dir")
    assert isinstance(storage, FileStorage)
    assert storage.root == tmp_path / "store dir"


def test_s3_url_is_parsed_with_percent_decoded_credentials():
    storage = storage_from_url("s3://AK%2FID:s%40cr%3Aet%2F@minio.local:9000/hiclaw-data?secure=false&region=eu-1")
    assert isinstance(storage, S3Storage)
    assert (storage.endpoint, storage.bucket, storage.secure, storage.region) == (
        "minio.local:9000",
        "hiclaw-data",
        False,
        "eu-1",
    )
    assert (storage.access_key, storage._secret_key) == ("AK/ID", "s@cr:et/")


def test_s3_url_is_secure_by_default_and_needs_no_port():
    storage = storage_from_url("s3://key:secret@s3.example.com/bucket")
    assert (storage.endpoint, storage.secure, storage.region) == ("s3.example.com", True, None)


def test_storage_repr_never_shows_the_secret():
    storage = storage_from_url("s3://the-key:TOPSECRET@minio.local:9000/bucket?secure=false")
    assert "TOPSECRET" not in repr(storage)
    assert "TOPSECRET" not in str(storage)
    assert repr(storage) == "S3Storage(endpoint='http://minio.local:9000', bucket='bucket')"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://host/x", "must start with file:// or s3://"),
        ("/var/lib/hiclaw", "must start with file:// or s3://"),
        ("file://relative/path", "file:///absolute/path"),
        ("file:relative/path", "absolute directory"),
        ("file:///data?x=1", "no options"),
        ("s3://minio:9000/bucket", "needs credentials"),
        ("s3://key@minio:9000/bucket", "needs credentials"),
        ("s3://key:TOPSECRET@:9000/bucket", "needs a host"),
        ("s3://key:TOPSECRET@minio:port/bucket", "port that is not a number"),
        ("s3://key:TOPSECRET@minio:9000", "bucket name"),
        ("s3://key:TOPSECRET@minio:9000/bucket/extra", "bucket name"),
        ("s3://key:TOPSECRET@minio:9000/Bad_Bucket", "bucket name"),
        ("s3://key:TOPSECRET@minio:9000/bucket?secure=maybe", "secure must be true or false"),
        ("s3://key:TOPSECRET@minio:9000/bucket?colour=red", "unknown options colour"),
        ("s3://key:TOPSECRET#1@minio:9000/bucket", "percent-encode '#'"),
    ],
)
def test_bad_storage_urls_are_refused_naming_the_setting_and_the_problem(url, problem):
    with pytest.raises(ImproperlyConfigured, match=problem) as caught:
        storage_from_url(url)
    assert "HICLAW_STORAGE_URL" in str(caught.value)
    assert "TOPSECRET" not in str(caught.value)


def test_get_storage_uses_the_setting_and_keeps_one_instance_per_url(settings, tmp_path):
    settings.HICLAW_STORAGE_URL = f"file://{tmp_path / 'one'}"
    first = get_storage()
    assert get_storage() is first
    assert first.root == tmp_path / "one"
    settings.HICLAW_STORAGE_URL = f"file://{tmp_path / 'two'}"
    assert get_storage().root == tmp_path / "two"
