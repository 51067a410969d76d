"""What reading a manifest or a JSON body may cost: no YAML aliases, bounded nesting.

A few hundred bytes of nested YAML anchors and aliases expand to millions of
nodes (a "billion laughs"), and every later walk (NUL check, validation) pays
for each of them; deep nesting exhausts Python's recursion. Both are refused
while the text is read, so what the rest of the code walks is never larger
than the text itself nor deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError

# The deepest real manifest path (spec.leader.permissions.allowedModels[0]) is 5 levels.
MAX_DEPTH = 32
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


class RefusedYAML(ComposerError):
    """A YAML construct manifests do not allow; ``rule`` names it for the error list."""

    def __init__(self, rule: str, problem: str, mark: yaml.Mark | None):
        super().__init__(None, None, problem, mark)
        self.rule = rule


class ManifestLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases and nesting deeper than ``MAX_DEPTH``."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            problem = f"found alias *{event.anchor}; aliases (and merge keys using them) are not allowed in manifests"
            raise RefusedYAML("yaml-alias", problem, event.start_mark)
        if self.depth >= MAX_DEPTH:
            raise RefusedYAML("too-deep", TOO_DEEP, self.peek_event().start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A scalar the resolver typed but Python refuses ("!!int abc", "!!float x") names its place.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            raise RefusedYAML("yaml-value", f"invalid {tag} {node.value!r}: {exc}", node.start_mark) from None


# No manifest field is a date: an unquoted 2026-01-31 (or an impossible 2001-13-45) stays text.
ManifestLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_all(text: str) -> list[Any]:
    """The documents of a YAML stream, read with ``ManifestLoader``."""
    loader = ManifestLoader(text)
    try:
        return list(_documents(loader))
    except (ValueError, TypeError, OverflowError) as exc:
        # Raised by a collection's constructor after construct_object returned (e.g. "!!set").
        raise RefusedYAML("yaml-value", f"invalid value: {exc}", None) from None
    finally:
        loader.dispose()


def _documents(loader: ManifestLoader):
    while loader.check_data():
        yield loader.get_data()


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
