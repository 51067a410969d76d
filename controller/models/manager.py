"""The Manager: the optional coordinating agent of the whole deployment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import models

from controller.models.agent import AgentResource

if TYPE_CHECKING:
    from controller.manifests.schema import ManagerSpec

# What a heartbeat changes on a Manager row.
MANAGER_HEARTBEAT_FIELDS = ["last_heartbeat", "version"]

# Inside ``Manager.remembered()``: [] until the Manager is looked up, then [it or None].
_remembered: ContextVar[list[Manager | None] | None] = ContextVar("hiclaw_manager_remembered", default=None)


class Manager(AgentResource):
    kind = "Manager"

    version = models.CharField(max_length=64, blank=True, help_text="runtime version last reported")

    heartbeat_fields = MANAGER_HEARTBEAT_FIELDS
    if TYPE_CHECKING:

        @property
        def typed_spec(self) -> ManagerSpec: ...

    class Meta(AgentResource.Meta):
        pass

    @classmethod
    def current(cls) -> Manager | None:
        """The Manager in charge: the first by name that is not being deleted (one is expected)."""
        memo = _remembered.get()
        if memo:
            return memo[0]
        manager = cls.objects.filter(deletion_requested_at__isnull=True).order_by("name").first()
        if memo is not None:
            memo.append(manager)
        return manager

    @staticmethod
    @contextmanager
    def remembered() -> Iterator[None]:
        """Look the Manager up once within the block: a reconcile pass asks for it in several
        steps (room members, room basis, the channel policy of the config files), a query
        each; a Manager changed meanwhile reaches the next pass, as any change does. Within
        an outer block (a chunk of passes: ``tasks.reconcile_many``) the outer lookup holds."""
        if _remembered.get() is not None:
            yield
            return
        token = _remembered.set([])
        try:
            yield
        finally:
            _remembered.reset(token)

    @property
    def config(self) -> dict[str, Any]:
        """The spec's ``config``: defaults for the workers (heartbeat interval, idle timeout)."""
        return self.spec.get("config") or {}

    def take_report(self, state: str, active_tasks: int, runtime_version: str, skills_version: str, now) -> None:
        self.version = runtime_version or self.version

    def kind_status(self) -> dict[str, Any]:
        return {**super().kind_status(), "version": self.version}
