"""Shared admin behaviour for the five kinds: YAML editing, read-only status, actions.

Admin writes change desired state only; reconcilers do the rest. Rows are
never deleted here directly: "Request deletion" marks them and the
reconciler removes what they own before removing the row. Lists, saves and
actions ask the one policy as the logged-in user, like the API and dashboard.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from controller import policy
from controller.admin.forms import ManifestForm
from controller.errors import DomainError
from controller.manifests import dump_yaml, to_manifest
from controller.services.lifecycle import request_deletion
from controller.services.operations import audit

STATUS_FIELDS = ("phase", "message", "generation", "observed_generation", "conditions_table", "status_yaml")


class ResourceAdmin(admin.ModelAdmin):
    form = ManifestForm
    search_fields: ClassVar[tuple[str, ...]] = ("name",)
    list_filter: ClassVar[tuple[str | tuple[str, type[admin.FieldListFilter]], ...]] = ("phase",)
    readonly_fields = (*STATUS_FIELDS, "created_at", "updated_at", "deletion_requested_at")
    actions = ["request_deletion_action"]
    list_per_page = 50

    def get_fieldsets(self, request, obj=None):
        fieldsets = [("Desired state", {"fields": ["manifest"]})]
        if obj is not None:
            fieldsets.append(("Status (read-only, written by the reconcilers)", {"fields": list(STATUS_FIELDS)}))
            fieldsets.append(("Record", {"fields": ["created_at", "updated_at", "deletion_requested_at"]}))
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # What the policy lets this login see, as on every other path: a row out of its scope
        # is neither listed nor opened nor selectable for an action, exactly like a missing one.
        return policy.visible(policy.principal_for_user(request.user), super().get_queryset(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if issubclass(form, ManifestForm):  # always: it is made from ``self.form``
            # The form class is made afresh for each request, so this is this login's alone.
            form.principal = policy.principal_for_user(request.user)
        return form

    def save_model(self, request, obj, form, change):
        saved = form.apply()
        # Fields edited beside the manifest (e.g. a Human's dashboard login).
        extra = {key: value for key, value in form.cleaned_data.items() if key != "manifest"}
        changed = {key: value for key, value in extra.items() if getattr(saved, key) != value}
        if changed:
            type(saved).objects.filter(pk=saved.pk).update(**changed)
            # A Human's login carries that Human's role: who changed it is recorded like an apply.
            audit(form.principal, "update", saved.kind, saved.name, fields=sorted(changed))
        # The admin's response needs the saved row (for its pk and messages).
        obj.pk, obj.name = saved.pk, saved.name

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="conditions")
    def conditions_table(self, obj) -> str:
        if not obj.conditions:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (c["type"], c["status"], c.get("reason", ""), c.get("message", ""), c.get("lastTransitionTime", ""))
                for c in obj.conditions
            ),
        )
        return format_html(
            "<table><thead><tr><th>type</th><th>status</th><th>reason</th><th>message</th><th>since</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="manifest with status (YAML)")
    def status_yaml(self, obj) -> str:
        return format_html("<pre>{}</pre>", dump_yaml([to_manifest(obj, with_status=True)]))

    @admin.action(description="Request deletion (the reconciler cleans up first)")
    def request_deletion_action(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, request_deletion, "marked for deletion", (policy.DELETE, "delete"))

    def _each(self, request: HttpRequest, queryset: QuerySet, change, done: str, asked: tuple[str, str]) -> None:
        """Apply ``change`` to each selected row the policy lets this login ``asked[0]`` (its
        audit action ``asked[1]``), as the API would; report successes and refusals."""
        principal = policy.principal_for_user(request.user)
        action, audited = asked
        count = 0
        for obj in queryset:
            try:
                policy.authorize(principal, action, obj.kind, obj.name, team=policy.team_of(obj))
                change(obj)
                audit(principal, audited, obj.kind, obj.name)
                count += 1
            except DomainError as refusal:
                self.message_user(request, refusal.describe(), messages.ERROR)
        if count:
            self.message_user(request, f"{count} {queryset.model._meta.verbose_name_plural} {done}.")
