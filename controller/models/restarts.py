"""Columns of a resource whose instance the controller restarts after a crash."""

from __future__ import annotations

from django.db import models


class RestartCounters(models.Model):
    """How often the instance crashed and was started again, and how it last ended.

    ``crash_streak`` counts crashes in a row of instances that ran less than ten
    minutes: it sets the wait before the next start (1 s, 2 s, 4 s … at most 5 min).
    """

    restart_count = models.PositiveIntegerField(default=0)
    crash_streak = models.PositiveIntegerField(default=0)
    last_exit_code = models.IntegerField(null=True, blank=True)
    last_exit_reason = models.CharField(max_length=200, blank=True)
    last_exit_at = models.DateTimeField(null=True, blank=True)
    # The start time of the instance whose crash was last counted: a later pass that sees
    # the same ended instance counts nothing again.
    crashed_start_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The same, once the restart after that crash was counted: a pass retried after a
    # failure (or a start that failed) does not count the restart twice.
    restarted_start_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True
