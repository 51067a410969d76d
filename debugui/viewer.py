"""How the workspace browser shows a file: text, JSON pretty-printed, Markdown rendered, binary as a size.

Everything returned is HTML made safe here: text is escaped by the template,
and Markdown is rendered with raw HTML disabled (markdown-it's ``js-default``
preset escapes any ``<tag>`` in the file and refuses ``javascript:``-style
links), so a file an agent wrote cannot run script in an admin's browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from controller.services.workspace_browser import VIEW_LIMIT, Blob

MARKDOWN_SUFFIXES = (".md", ".markdown")
_markdown = MarkdownIt("js-default")


@dataclass(frozen=True)
class View:
    kind: str  # text | json | markdown | binary
    size: int
    truncated: bool
    text: str = ""
    html: SafeString | None = None


def text_of(blob: Blob) -> str | None:
    """The file as UTF-8 text, or None when it is binary (a NUL byte, or not UTF-8)."""
    data = blob.data
    if b"\x00" in data[:8192]:
        return None
    # A cut at VIEW_LIMIT may split a character: up to 3 bytes are left out then.
    for cut in range(4 if blob.truncated else 1):
        try:
            return data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def view_of(path: str, blob: Blob) -> View:
    text = text_of(blob)
    if text is None:
        return View("binary", blob.size, blob.truncated)
    lower = path.lower()
    if lower.endswith(".json") and not blob.truncated:
        try:
            return View("json", blob.size, False, json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        except (ValueError, RecursionError):
            pass  # not valid JSON: shown as the text it is
    if lower.endswith(MARKDOWN_SUFFIXES):
        return View("markdown", blob.size, blob.truncated, text, mark_safe(_markdown.render(text)))  # noqa: S308
    return View("text", blob.size, blob.truncated, text)


def render(source_label: str, path: str, blob: Blob, etag: str = "") -> str:
    """The viewer fragment (templates/debugui/_file_view.html) for one file."""
    view = view_of(path, blob)
    context = {"label": source_label, "path": path, "view": view, "limit": VIEW_LIMIT, "etag": etag}
    return render_to_string("debugui/_file_view.html", context)


def render_error(message: str) -> str:
    return render_to_string("debugui/_file_view.html", {"error": message})
