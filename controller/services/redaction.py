"""Taking secrets out of text and JSON before a debug export, report or reader sees it.

Exports and reports copy what agents wrote (workspace files, Matrix messages,
heartbeat notes) into files that more people read than the agents themselves,
so everything they write passes through here first; so does every target
file a DebugWorker's instance or the workspace browser reads (``redact_file``). The rules are deliberately
broad: a redacted word too many costs little, one leaked token costs a lot.
What is replaced becomes ``[redacted]``:

- tokens by their shape: the controller's ``hct_…``, Synapse's ``syt_…``, and
  other common API-key prefixes; ``Bearer <anything>``; AWS access key IDs;
- PEM private key blocks, whole;
- the value of any field whose name says secret (``access_token``, ``password``,
  ``secret``, ``…key``, ``…token``, ``credentials``) in JSON text, in
  ``KEY=value`` / ``key: value`` lines or parts of lines, and URL query strings;
- a URL's ``user:password@``;
- any value the caller knows is secret (e.g. the credential the export used).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"

# A field name that holds a secret: ends in one of these words (any case, - or _ separated).
_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:token|password|passwd|pwd|secret|key|credentials?|authorization|cookie)s?"  # noqa: S105 (a pattern, not a secret)
_SECRET_FIELD = re.compile(rf"^{_SECRET_NAME}$", re.IGNORECASE)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys, possibly truncated (no END line) by an excerpt.
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL),
        REDACTED,
    ),
    # An Authorization header's credential; after the word "token" only what looks like one,
    # so that prose ("the token expired") stays readable.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    (re.compile(r"\b(Token)\s+[A-Za-z0-9._~+/=-]{20,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    # Token shapes: HiClaw (hct_), Synapse (syt_, syr_), GitHub, Slack, OpenAI-style sk-…
    (
        re.compile(r"\b(?:hct|syt|syr|ghp|gho|ghu|ghs|github_pat)_[A-Za-z0-9_\-]{6,}|\bxox[abprs]-[A-Za-z0-9-]{6,}"),
        REDACTED,
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    # scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@", re.IGNORECASE), rf"\1{REDACTED}@"),
    # "name": "value" in JSON text (also when the JSON is itself inside a string).
    (re.compile(rf'("{_SECRET_NAME}"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE), rf'\1"{REDACTED}"'),
    # KEY=value and key: value lines (.env files, shell exports, YAML).
    (
        re.compile(rf"^(\s*(?:export\s+)?['\"]?{_SECRET_NAME}['\"]?\s*[=:]\s*)(\S.*)$", re.IGNORECASE | re.MULTILINE),
        rf"\1{REDACTED}",
    ),
    # The same inside a line: "exited; API_KEY=…", "?access_token=…", "my password: …".
    (re.compile(rf"(\b{_SECRET_NAME}\s*[=:]\s*)[^\s,;&\"'#|]+", re.IGNORECASE), rf"\1{REDACTED}"),
]


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every secret it shows replaced by ``[redacted]``."""
    for secret in known:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, known: Iterable[str] = ()) -> Any:
    """A copy of a JSON-like value: secret-named fields emptied, every string redacted."""
    known = tuple(known)
    if isinstance(value, str):
        return redact_text(value, known)
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and _SECRET_FIELD.match(key) else redact(item, known)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, known) for item in value]
    return value


def redact_file(data: bytes) -> bytes:
    """A stored file as a DebugWorker's readers get it: text redacted, binary as it is.

    Target workspaces hold agents' own configs (Matrix access tokens, gateway
    keys); whoever debugs an agent sees what it did, never what it holds.
    """
    if b"\x00" in data:
        return data  # binary: nothing here reads as text, and its bytes must stay as they are
    # Text with a stray invalid byte (or cut mid-character) is still redacted; the invalid
    # bytes survive the round trip unchanged.
    return redact_text(data.decode(errors="surrogateescape")).encode(errors="surrogateescape")
