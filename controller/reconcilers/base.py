"""What every reconciler shares: results, the two error kinds, backoff, status bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from controller.models import Resource

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
    """What a reconcile pass asks for next: nothing, or another pass later; ``failed`` when
    the pass failed (its error is recorded on the resource), so metrics count it as an error."""

    requeue_after: float | None = None
    failed: bool = False


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


def mark_settled(resource: Resource, phase: str) -> None:
    """A pass converged: the phase it settled in, no message, no failures, this generation
    observed. The caller saves the status columns."""
    resource.phase = phase
    resource.message = ""
    resource.failures = 0
    resource.observed_generation = resource.generation
    resource.reconciled_at = timezone.now()


def mark_failed(resource: Resource, condition: str, reason: str, message: str, phase: str) -> Result:
    """A pass failed: ``condition`` False with the reason, the message naming it, one more
    failure, and the retry that failure count's backoff asks for. The caller saves."""
    resource.set_condition(condition, "False", reason, message)
    resource.failures += 1
    resource.message = f"{condition}: {message}"
    resource.reconciled_at = timezone.now()
    resource.phase = phase
    return retry_failed(resource.failures)


def retry_failed(failures: int) -> Result:
    """A failed pass: another one after the backoff of ``failures``."""
    return Result(requeue_after=backoff(failures), failed=True)
