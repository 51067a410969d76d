"""What every reconciler shares: results, the two error kinds, backoff, conditions."""

from __future__ import annotations

from dataclasses import dataclass

# Status columns every reconciler writes (kinds add their own).
STATUS_FIELDS = [
    "phase",
    "message",
    "observed_generation",
    "conditions",
    "reconciled_at",
    "failures",
    "updated_at",
]
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0


@dataclass(frozen=True)
class Result:
    """What a reconcile pass asks for next: nothing, or another pass later."""

    requeue_after: float | None = None


class TemporaryError(Exception):
    """Retry with backoff: a service is down, a timeout, a conflict."""

    def __init__(self, condition: str, reason: str, message: str):
        self.condition, self.reason, self.message = condition, reason, message
        super().__init__(message)


class PermanentError(TemporaryError):
    """Retrying will not help until the spec changes: mark Failed with the reason."""


def backoff(failures: int) -> float:
    """Capped exponential backoff: 2 s, 4 s, 8 s … at most 5 minutes."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(failures - 1, 0), BACKOFF_CAP_SECONDS)
