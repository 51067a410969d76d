"""The shared test helpers: waits end as soon as they can and fail saying what never happened;
manifests built from dicts apply as written."""

from __future__ import annotations

import socket
import time

import pytest

from controller.manifests import parse
from tests.helpers import free_port, manifest, to_yaml, wait_until


def test_wait_until_returns_the_first_truthy_value():
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), 5, "an answer", interval=0) == "ready"


def test_wait_until_fails_naming_what_never_happened_with_details():
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"(?s)after 0\.1s waiting for the moon.*log: quiet"):
        wait_until(lambda: False, 0.1, "the moon", details=lambda: "log: quiet")
    assert time.monotonic() - started < 2


def test_wait_until_stops_early_when_the_check_fails():
    def check() -> None:
        pytest.fail("the process exited")

    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="the process exited"):
        wait_until(lambda: False, 60, "never", check=check)
    assert time.monotonic() - started < 2


def test_free_port_can_be_listened_on():
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))


def test_manifests_from_dicts_parse_as_written_even_when_they_share_values():
    shared = {"limits": {"memory": "64Mi"}}
    text = to_yaml(
        manifest("Worker", "a", {"model": "q", "resources": shared}, labels={"tier": "gold"}),
        manifest("Worker", "b", {"model": "q", "resources": shared}, annotations={"note": "09:00"}),
    )
    first, second = parse(text)
    assert (first.name, first.labels, first.spec["resources"]) == ("a", {"tier": "gold"}, shared)
    assert (second.name, second.annotations["note"]) == ("b", "09:00")
