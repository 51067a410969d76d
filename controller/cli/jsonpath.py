"""A small subset of kubectl's JSONPath templates, for ``hiclaw get -o jsonpath=…``.

Supported, as kubectl reads them: text outside braces printed as is; ``{.a.b}``, ``{.a['b-c']}``,
``{.items[0]}``, ``{.items[-1]}``, ``{.items[*].metadata.name}`` (several results joined by a space);
string literals ``{"\\n"}``; and ``{range .items[*]}…{end}``, inside which paths start at each item.
No filters (``?()``), slices or recursive descent: a template using them is refused as a usage
error naming ``jsonpath``, as is unbalanced ``{range}``/``{end}``. A key missing from a single
object is an error (as in kubectl); under ``[*]`` items without it are skipped.
"""

from __future__ import annotations

import json
import re
from typing import Any

# One path step: .name, ['name'] / ["name"], [N], [*]
STEP = re.compile(r"\.(?P<key>[A-Za-z0-9_\-/]+)|\[(?P<quote>['\"])(?P<quoted>.*?)(?P=quote)\]|\[(?P<index>-?\d+|\*)\]")


class JSONPathError(ValueError):
    """The template cannot be read (``usage``) or does not fit the data."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.usage = usage


def parse(template: str) -> list[Any]:
    """The template as nodes: ``("text", s)``, ``("path", steps)``, ``("range", steps, body)``."""
    root: list[Any] = []
    stack = [root]
    for literal, expression in re.findall(r"([^{]*)(?:\{([^}]*)\}|$)", template):
        if literal:
            stack[-1].append(("text", literal))
        expression = expression.strip()
        if not expression:
            continue
        if expression.startswith("range "):
            body: list[Any] = []
            stack[-1].append(("range", _steps(expression[6:].strip()), body))
            stack.append(body)
        elif expression == "end":
            if len(stack) == 1:
                raise JSONPathError("jsonpath: {end} without {range}", usage=True)
            stack.pop()
        elif expression[0] in "'\"" and expression[-1] == expression[0] and len(expression) > 1:
            stack[-1].append(("text", _unescape(expression[1:-1])))
        else:
            stack[-1].append(("path", _steps(expression)))
    if len(stack) != 1:
        raise JSONPathError("jsonpath: {range} without {end}", usage=True)
    return root


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")


def _steps(expression: str) -> list[tuple[str, Any]]:
    path = expression.removeprefix("$")
    if path in ("", "."):
        return []
    steps, position = [], 0
    while position < len(path):
        found = STEP.match(path, position)
        if found is None:
            raise JSONPathError(f"jsonpath: cannot read {expression!r} at {path[position:]!r}", usage=True)
        if found["key"] is not None:
            steps.append(("key", found["key"]))
        elif found["quote"]:
            steps.append(("key", found["quoted"]))
        elif found["index"] == "*":
            steps.append(("all", None))
        else:
            steps.append(("index", int(found["index"])))
        position = found.end()
    return steps


def resolve(data: Any, steps: list[tuple[str, Any]]) -> list[Any]:
    values, spread = [data], False
    for kind, argument in steps:
        following = []
        for value in values:
            if kind == "all":
                following += (
                    list(value.values()) if isinstance(value, dict) else list(value) if isinstance(value, list) else []
                )
            elif (kind == "index" and isinstance(value, list) and -len(value) <= argument < len(value)) or (
                kind == "key" and isinstance(value, dict) and argument in value
            ):
                following.append(value[argument])
            elif not spread:
                where = f"[{argument}]" if kind == "index" else argument
                raise JSONPathError(f"jsonpath: {where} is not found")
        spread = spread or kind == "all"
        values = following
    return values


def render(template: str, data: Any) -> str:
    return _render(parse(template), data)


def _render(nodes: list[Any], data: Any) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "path":
            out.append(" ".join(_text(value) for value in resolve(data, node[1])))
        else:
            out += [_render(node[2], item) for item in resolve(data, node[1])]
    return "".join(out)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
