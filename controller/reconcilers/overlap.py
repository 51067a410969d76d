"""Letting a pass wait on two services at once.

A new agent's first pass is mostly waiting: on the homeserver (registration,
where it hashes the account's password, is the slowest call), on the gateway
console, on the container engine. Calls that need nothing from each other
(the agent's registration and the creation of its room by the admin account;
the gateway consumer and everything Matrix) go out together.

The call run ``beside`` a block must not touch the database, since a Django
connection belongs to the thread that opened it: it only talks to a service
and hands back what it got; the pass's own thread records it on the row, so
the per-step saves keep their order and a pass cut short resumes as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

_T = TypeVar("_T")
_P = ParamSpec("_P")


@contextmanager
def beside(call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> Iterator[Future[_T]]:
    """Run ``call`` in a thread of its own while the block runs; leaving the block (also by an
    exception) waits until the call has ended, so nothing of a pass outlives it. The call's
    result, or the exception it raised, is the future's."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hiclaw-beside") as pool:
        yield pool.submit(call, *args, **kwargs)
