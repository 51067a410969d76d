"""What reading a manifest or a JSON body may cost: no YAML aliases, bounded nesting.

A few hundred bytes of nested YAML anchors and aliases expand to millions of
nodes (a "billion laughs"), and every later walk (NUL check, validation) pays
for each of them; deep nesting exhausts Python's recursion. Both are refused
while the text is read, so what the rest of the code walks is never larger
than the text itself nor deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import ComposerError

if TYPE_CHECKING:
    from yaml._yaml import Mark as LibyamlMark

# The deepest real manifest path (spec.workers[0].accessEntries[0].scope.<key>[0]) is 8 levels.
MAX_DEPTH = 32
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


class RefusedYAML(ComposerError):
    """A YAML construct manifests do not allow; ``rule`` names it for the error list."""

    def __init__(self, rule: str, problem: str, mark: yaml.Mark | LibyamlMark | None):
        super().__init__(None, None, problem, mark)  # type: ignore[arg-type]  # stubs omit libyaml's own Mark
        self.rule = rule


# libyaml's parser and composer when built in (five times faster on a large manifest).
if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader  # the same interface as CSafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENING = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSING = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class ManifestLoader(_BaseLoader):
    """The safe loader, with timestamps kept as text and values Python refuses reported."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A scalar the resolver typed but Python refuses ("!!int abc", "!!float x") names its place.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            tag, text = node.tag.rsplit(":", 1)[-1], str(node.value)
            shown = text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
            raise RefusedYAML("yaml-value", f"invalid {tag} {shown!r}: {str(exc)[:200]}", node.start_mark) from None


# No manifest field is a date: an unquoted 2026-01-31 (or an impossible 2001-13-45) stays text.
ManifestLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    yaml.SafeLoader.construct_yaml_str,  # type: ignore[type-var]  # the stubs' TypeVar wrongly refuses a SafeConstructor method
)


def check_events(text: str) -> None:
    """Refuse aliases and nesting deeper than ``MAX_DEPTH`` from the parser's events, before
    any node is composed: the refusal costs no more than reading the text up to it."""
    try:
        _check_events(yaml.parse(text, Loader=_BaseLoader))
    except yaml.MarkedYAMLError as exc:
        # libyaml stops scanning at its own nesting limit (1000) before yielding the events.
        if "nesting depth" in (exc.problem or ""):
            raise RefusedYAML("too-deep", TOO_DEEP, exc.problem_mark) from None
        raise


def _check_events(events: Iterator[yaml.Event]) -> None:
    depth = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            problem = f"found alias *{event.anchor}; aliases (and merge keys using them) are not allowed in manifests"
            raise RefusedYAML("yaml-alias", problem, event.start_mark)
        if isinstance(event, _OPENING):
            depth += 1
            if depth > MAX_DEPTH:
                raise RefusedYAML("too-deep", TOO_DEEP, event.start_mark)
        elif isinstance(event, _CLOSING):
            depth -= 1


def load_all(text: str) -> list[Any]:
    """The documents of a YAML stream, checked by ``check_events`` and read with ``ManifestLoader``."""
    check_events(text)
    loader = ManifestLoader(text)
    try:
        return [loader.get_data() for _ in iter(loader.check_data, False)]
    except (ValueError, TypeError, OverflowError) as exc:
        # Raised by a collection's constructor after construct_object returned (e.g. "!!set").
        raise RefusedYAML("yaml-value", f"invalid value: {exc}", None) from None
    finally:
        loader.dispose()


def too_deep(value: Any, path: str = "") -> str | None:
    """The path of the first node of decoded data nested deeper than ``MAX_DEPTH``, or None.

    Iterative, so it is safe on data as deep as the decoder allowed.
    """
    stack = [(value, path, 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict):
            children = [(item, f"{where}.{key}" if where else str(key)) for key, item in node.items()]
        elif isinstance(node, list):
            children = [(item, f"{where}[{index}]") for index, item in enumerate(node)]
        else:
            continue
        if depth >= MAX_DEPTH:
            return where
        stack.extend((item, child, depth + 1) for item, child in reversed(children))
    return None
