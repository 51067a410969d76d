"""The embedded broker after a crash: a half-written message must not stop the Celery worker.

kombu's filesystem transport raises on the first queued file it cannot parse and the
worker dies with it; a process killed mid-write leaves exactly such a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import time

from controller.embedded import SETTLED_SECONDS, set_aside_broken_messages


def test_half_written_messages_are_set_aside_and_good_ones_kept(tmp_path):
    good = tmp_path / "1_a.celery.msg"
    good.write_text(json.dumps({"body": "x"}))
    empty = tmp_path / "2_b.celery.msg"
    empty.write_bytes(b"")
    cut = tmp_path / "3_c.celery.msg"  # just cut short: it is given time to settle first
    cut.write_bytes(b'{"body": "x", "head')
    writing = tmp_path / "4_d.celery.msg"  # its writer holds the lock kombu takes
    writing.write_bytes(b"")
    old = time.time() - 10 * SETTLED_SECONDS
    os.utime(empty, (old, old))

    started = time.monotonic()
    with writing.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert set_aside_broken_messages(tmp_path) == ["2_b.celery.msg", "3_c.celery.msg"]
    assert time.monotonic() - started < 2 * SETTLED_SECONDS
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "1_a.celery.msg",
        "2_b.celery.msg.broken",
        "3_c.celery.msg.broken",
        "4_d.celery.msg",
    ]
    assert json.loads(good.read_text()) == {"body": "x"}
