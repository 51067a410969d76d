"""Django admin for platform operators: every kind, with list columns, filters and actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from controller import policy
from controller.admin.base import ResourceAdmin
from controller.models import (
    AgentToken,
    AuditRecord,
    DebugWorker,
    DesiredState,
    Event,
    Human,
    Manager,
    Team,
    Upgrade,
    UpgradeTarget,
    Worker,
)
from controller.services.lifecycle import set_desired_state


def _state_action(state: str):
    def action(modeladmin: ResourceAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        change = lambda obj: set_desired_state(obj, state)  # noqa: E731
        modeladmin._each(request, queryset, change, f"set to {state}", (policy.LIFECYCLE, f"state:{state}"))

    action.__name__ = f"set_state_{state.lower()}"
    return admin.action(description=f"Set desired state: {state}")(action)


STATE_ACTIONS = [_state_action(state) for state in DesiredState.values]


@admin.register(Worker)
class WorkerAdmin(ResourceAdmin):
    list_display = ("name", "phase", "team", "role", "model", "runtime", "image", "state", "last_heartbeat")
    # The team filter offers the teams of the rows listed (which the policy scoped), not every team.
    list_filter = ("phase", ("team", admin.RelatedOnlyFieldListFilter), "runtime", "role", "state")
    list_select_related = ("team",)
    search_fields = ("name", "model", "image", "matrix_user_id")
    actions = [*STATE_ACTIONS, "request_deletion_action"]


@admin.register(Team)
class TeamAdmin(ResourceAdmin):
    list_display = ("name", "phase", "admin_name", "image", "member_count")
    search_fields = ("name", "admin_name")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("members")

    @admin.display(description="members")
    def member_count(self, obj: Team) -> int:
        return len(obj.members.all())


@admin.register(Human)
class HumanAdmin(ResourceAdmin):
    list_display = ("name", "phase", "permission_level", "email", "user", "matrix_user_id")
    list_filter = ("phase", "permission_level")
    search_fields = ("name", "email", "matrix_user_id")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)

    def get_fieldsets(self, request, obj=None):
        return [*super().get_fieldsets(request, obj), ("Dashboard login", {"fields": ["user"]})]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            human = Human.objects.get(pk=obj.pk)
            # Shown this once: the password is derived, never stored.
            message = f"Matrix initial password for {human.name}: {human.initial_password()} (shown once)"
            self.message_user(request, message, messages.WARNING)


@admin.register(Manager)
class ManagerAdmin(ResourceAdmin):
    list_display = ("name", "phase", "model", "runtime", "image", "state", "last_heartbeat")
    list_filter = ("phase", "runtime", "state")
    actions = [*STATE_ACTIONS, "request_deletion_action"]


@admin.register(DebugWorker)
class DebugWorkerAdmin(ResourceAdmin):
    list_display = ("name", "phase", "target_type", "target_name", "expires_at")
    list_filter = ("phase", "target_type")
    search_fields = ("name", "target_name")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the controller writes; operators read them (and may revoke tokens)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ("at", "identity", "actor", "team", "action", "target_kind", "target_name")
    list_filter = ("identity", "action", "target_kind")
    search_fields = ("actor", "target_name", "team")
    date_hierarchy = "at"


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "name", "team", "type", "reason", "exit_code", "message")
    list_filter = ("kind", "type", "reason")
    search_fields = ("name", "team", "message")
    date_hierarchy = "at"


@admin.register(AgentToken)
class AgentTokenAdmin(ReadOnlyAdmin):
    list_display = ("hint", "identity", "subject", "team", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("identity",)
    search_fields = ("subject", "team", "hint")
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} tokens revoked.")


class UpgradeTargetInline(admin.TabularInline):
    model = UpgradeTarget
    fields = ("position", "worker", "state", "message", "from_image", "started_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Upgrade)
class UpgradeAdmin(ReadOnlyAdmin):
    list_display = ("pk", "kind", "created_at", "requested_by", "scope", "target", "state", "image", "version")
    list_filter = ("kind", "scope", "state")
    search_fields = ("target", "team", "requested_by", "image")
    inlines = [UpgradeTargetInline]

    def get_queryset(self, request):
        # Filtered by what the login may see, like every other list.
        return policy.visible(policy.principal_for_user(request.user), super().get_queryset(request))
