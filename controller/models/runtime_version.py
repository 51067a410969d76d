"""Whether an agent's reported runtime version is older than ``HICLAW_MIN_RUNTIME_VERSION``.

Versions compare as PEP 440 versions (``packaging.version``). Runtimes often
report a name in front of the number (the reference worker says
``reference-0.1.0``, others ``openclaw 2.3.1``): when the whole text does not
parse, its trailing version part (the last run of digits and dots, with any
pre-release suffix PEP 440 accepts) is compared instead. A version with no
parseable part cannot be compared and is never flagged.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

_TRAILING = re.compile(r"(\d+(?:\.\d+)*(?:[._-]?(?:a|b|rc|alpha|beta|dev|post)\.?\d*)?)\s*$", re.IGNORECASE)


def parse(text: str) -> Version | None:
    text = text.strip()
    for candidate in (text, *(m.group(1) for m in [_TRAILING.search(text)] if m)):
        try:
            return Version(candidate)
        except InvalidVersion:
            continue
    return None


def older_than(reported: str, minimum: str) -> bool | None:
    """True when ``reported`` is older than ``minimum``; None when either cannot be compared."""
    have, need = parse(reported), parse(minimum)
    if have is None or need is None:
        return None
    return have < need
