"""The admin's edit form: a resource is edited as its YAML manifest.

Saving goes through the same validation, policy and apply path as ``POST
/api/v1/apply`` (as the logged-in user), so the admin can never store a spec
the API would refuse that user.
"""

from __future__ import annotations

from typing import Any

from django import forms

from controller import policy
from controller.errors import DomainError
from controller.manifests import Document, ManifestInvalid, dump_yaml, parse, to_manifest
from controller.models import API_VERSION, Resource
from controller.services import operations

_TEMPLATES = {
    "Worker": {"model": "qwen3.5-plus"},
    "Team": {"leader": {"name": "team-lead", "model": "qwen3.5-plus"}, "workers": []},
    "Human": {"displayName": "Jane Doe", "permissionLevel": 3},
    "Manager": {"model": "qwen3.5-plus"},
    "DebugWorker": {"target": {"type": "team", "name": "team-name"}},
}


class ManifestForm(forms.ModelForm):
    manifest = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 28, "cols": 100, "class": "vLargeTextField", "spellcheck": "false"}),
        help_text="The resource as a hiclaw.io/v1beta1 manifest. Saving validates and applies it.",
    )

    # Set per request by ResourceAdmin.get_form: who is saving.
    principal: policy.Principal = policy.Principal(policy.NOBODY, "", is_authenticated=False)

    class Meta:
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model = self._meta.model
        if self.instance.pk:
            initial = to_manifest(self.instance)
        else:
            initial = {
                "apiVersion": API_VERSION,
                "kind": model.kind,
                "metadata": {"name": ""},
                "spec": _TEMPLATES[model.kind],
            }
        self.fields["manifest"].initial = dump_yaml([initial])
        self.document: Document | None = None

    def clean_manifest(self) -> str:
        text = self.cleaned_data["manifest"]
        try:
            documents = parse(text)
        except ManifestInvalid as invalid:
            raise forms.ValidationError(invalid.messages()) from None
        model = self._meta.model
        if len(documents) != 1 or documents[0].kind != model.kind:
            raise forms.ValidationError(f"give exactly one {model.kind} manifest")
        document = documents[0]
        if self.instance.pk and document.name != self.instance.name:
            raise forms.ValidationError(
                f"metadata.name: cannot rename {self.instance}; create a new {model.kind} instead"
            )
        try:
            operations.apply_as(self.principal, [document], dry_run=True)
        except DomainError as refusal:  # every refusal, whatever its status, is shown on the form
            raise forms.ValidationError(refusal.messages()) from None
        self.document = document
        return text

    def apply(self) -> Resource:
        document = self.document
        if document is None:
            raise RuntimeError("apply() needs a form that validated")
        operations.apply_as(self.principal, [document])
        return self._meta.model.objects.get(name=document.name)
