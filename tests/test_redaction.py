"""What debug exports and reports hide: each kind of secret, in text and in JSON, and what stays."""

from __future__ import annotations

import pytest

from controller.services.debug_markdown import excerpt, section
from controller.services.redaction import REDACTED, redact, redact_file, redact_text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("use hct_AbCdEf0123456789-_xyz now", "hct_AbCdEf0123456789-_xyz"),
        ("token syt_YS1kZXY_AbCdEfGhIjKl_0a1b2c", "syt_YS1kZXY_AbCdEfGhIjKl_0a1b2c"),
        ("Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123"),
        ("curl -H 'authorization: bearer Zm9vYmFyYmF6'", "Zm9vYmFyYmF6"),
        ("Authorization: Token 0123456789abcdef0123456789", "0123456789abcdef0123456789"),
        ('{"access_token": "tok-123456", "user": "bob"}', "tok-123456"),
        ('{"password":"hunter22"}', "hunter22"),
        ('{"clientSecret": "s3cr3t-value"}', "s3cr3t-value"),
        ('{"apiKey": "k-987654321"}', "k-987654321"),
        ("GITHUB_TOKEN=ghx-value-123456", "ghx-value-123456"),
        ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
        ("  db_password: correct-horse", "correct-horse"),
        ("key id AKIAIOSFODNN7EXAMPLE in a log", "AKIAIOSFODNN7EXAMPLE"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----", "MIIEvQIBADANBgkq"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk (cut here", "b3BlbnNzaC1rZXk"),
        ("GET /sync?access_token=abcdef123456&since=1", "abcdef123456"),
        ("container exited; API_KEY=inline-value-1 and more", "inline-value-1"),
        ("fyi my password: hunter2-inline, thanks", "hunter2-inline"),
        ("postgres://hiclaw:pa55word@db:5432/hiclaw", "pa55word"),
        ("openai sk-proj0123456789abcdefghij", "sk-proj0123456789abcdefghij"),
    ],
)
def test_each_kind_of_secret_is_redacted(text, secret):
    redacted = redact_text(text)
    assert secret not in redacted
    assert REDACTED in redacted


def test_ordinary_text_is_left_alone():
    text = "a-dev, please fix the build; the token expired in room !abc:hiclaw.test and the key idea is caching"
    assert redact_text(text) == text


def test_known_secrets_are_redacted_by_value():
    assert redact_text("it is plain-looking-value here", ["plain-looking-value"]) == "it is [redacted] here"


def test_json_values_under_secret_names_are_emptied_and_strings_redacted():
    value = {"user": "bob", "accessToken": "x", "nested": [{"password": 123}, "Bearer abcdef1234"]}
    assert redact(value) == {
        "user": "bob",
        "accessToken": REDACTED,
        "nested": [{"password": REDACTED}, "Bearer [redacted]"],
    }


def test_an_excerpt_is_redacted_before_it_is_cut():
    """A cut through a token would leave a fragment no rule recognises."""
    block = excerpt("a" * 95 + "hct_" + "z" * 40, limit=100)
    assert "zzzzz" not in block and "[truncated:" in block


def test_an_excerpt_with_backticks_gets_a_longer_fence():
    block = excerpt("before\n````\n# not a heading of the report\n````")
    lines = block.splitlines()
    assert lines[0] == "`````text" and lines[-1] == "`````"


def test_a_section_keeps_whole_parts_within_its_bound():
    text = section("Files", ["x" * 60, "y" * 60, "z" * 60], limit=130)
    assert "x" * 60 in text and "y" * 60 in text and "z" * 60 not in text
    assert "[truncated: 1 more part(s) of this section not shown]" in text


AGENT_CONFIG = b"""{
  "gateway": {"apiKey": "gw-key-0123456789abcdef", "url": "http://gw"},
  "matrix": {"accessToken": "syt_d29ya2Vy_abcdefghijklmnop_0a1b2c", "userId": "@w:hs"}
}"""


def test_a_read_file_loses_an_agents_credentials_but_keeps_the_rest():
    shown = redact_file(AGENT_CONFIG)
    assert b"gw-key-0123456789abcdef" not in shown and b"syt_d29ya2Vy" not in shown
    assert b'"userId": "@w:hs"' in shown and b'"url": "http://gw"' in shown


def test_binary_files_are_left_as_they_are_and_stray_bytes_survive_in_text():
    binary = b"\x00\x01password=hunter22\xff"
    assert redact_file(binary) == binary
    text = b"\xffAPI_KEY=abcdef123456\n\xe2\x82"  # an invalid byte, then a character cut short
    assert redact_file(text) == b"\xffAPI_KEY=[redacted]\n\xe2\x82"
