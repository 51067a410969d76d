"""Markdown pieces of a debug report, each bounded in size and redacted.

A report gathers text that agents wrote (files, messages, notes); any of it
may be huge or hold a secret. Every piece of such text goes through
``excerpt`` (redaction, then a size cut with a notice saying how much was left
out) and is fenced so that nothing in it can break the report's own structure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from controller.services.redaction import redact_text

EXCERPT_CHARS = 4000  # one file's or one message's text
SECTION_CHARS = 30_000  # one section of one worker
REPORT_CHARS = 2_000_000  # the whole report


def truncated(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a notice of what was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [truncated: {len(text) - limit} more characters not shown]"


def excerpt(text: str, known: Iterable[str] = (), limit: int = EXCERPT_CHARS, *, tail: bool = False) -> str:
    """Agent-written text, redacted and cut to ``limit`` (its end with ``tail``), as a fenced block."""
    # Redact first: a cut may otherwise split a secret into a shape no rule recognises.
    body = redact_text(text, known)
    if tail and len(body) > limit:
        body = f"… [truncated: {len(body) - limit} earlier characters not shown]\n{body[-limit:]}"
    body = truncated(body, limit + 80) if tail else truncated(body, limit)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def cell(value: Any, known: Iterable[str] = (), limit: int = 300) -> str:
    """A value for a table cell: redacted, on one line, pipes escaped, cut to ``limit``."""
    text = redact_text(" ".join(str(value if value is not None else "").split()), known)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.replace("|", "\\|") or "—"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], known: Iterable[str] = ()) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value, known) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def section(title: str, parts: Sequence[str], *, level: int = 3, limit: int = SECTION_CHARS, empty: str = "") -> str:
    """A heading and its parts (paragraphs, tables, fenced excerpts), as many whole parts as fit
    in ``limit`` characters, then a notice of how many were left out."""
    kept: list[str] = []
    used = 0
    for index, part in enumerate(parts):
        if kept and used + len(part) > limit:
            kept.append(f"_… [truncated: {len(parts) - index} more part(s) of this section not shown]_")
            break
        kept.append(truncated(part, limit))
        used += len(part)
    body = "\n\n".join(kept) or empty or "_Nothing in the window._"
    return f"{'#' * level} {title}\n\n{body}\n"
