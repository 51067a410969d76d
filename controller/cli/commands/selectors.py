"""``-l`` label selectors and ``--phase`` filters of ``hiclaw get``, applied to the listed items.

The API filters by team and exact phase only, so the CLI filters the rest itself, as kubectl's
selector syntax reads: ``key=value`` (or ``==``), ``key!=value``, ``key`` (has the label),
``!key`` (has not), comma-separated terms all of which must hold. Phases match whatever the case
(``--phase running`` finds ``Running``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from controller.cli.commands import UsageError

Test = Callable[[dict[str, str]], bool]
KEY = r"[A-Za-z0-9][A-Za-z0-9_.\-/]*"
TERM = re.compile(rf"(?P<neg>!)?(?P<key>{KEY})(?:(?P<op>==|=|!=)(?P<value>[A-Za-z0-9_.\-]*))?")


def label_selector(text: str) -> list[Test]:
    """One test per term; a term that is not one of the forms above is a usage error naming ``selector``."""
    tests = []
    for term in (part.strip() for part in text.split(",")):
        found = TERM.fullmatch(term)
        if not term or found is None or (found["neg"] and found["op"]):
            raise UsageError(f"selector: cannot read {term!r}; use key=value, key!=value, key or !key")
        tests.append(_test(found["neg"], found["key"], found["op"], found["value"]))
    return tests


def _test(negated: str | None, key: str, op: str | None, value: str | None) -> Test:
    if op is None:
        return (lambda labels: key not in labels) if negated else (lambda labels: key in labels)
    if op == "!=":
        return lambda labels: labels.get(key) != value
    return lambda labels: labels.get(key) == value


def labels_of(resource: dict[str, Any]) -> dict[str, str]:
    return (resource.get("metadata") or {}).get("labels") or {}


def phase_of(resource: dict[str, Any]) -> str:
    return resource.get("phase") or (resource.get("status") or {}).get("phase") or ""


def select(resources: list[dict[str, Any]], selector: str | None, phase: str | None) -> list[dict[str, Any]]:
    tests = label_selector(selector) if selector else []
    wanted = phase.casefold() if phase else None
    return [
        resource
        for resource in resources
        if all(test(labels_of(resource)) for test in tests)
        and (wanted is None or phase_of(resource).casefold() == wanted)
    ]
