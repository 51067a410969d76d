"""Forms of the dashboard's actions: the fields a person types, checked before the policy is asked."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from controller.manifests.schema import IMAGE_PATTERN, IMAGE_RULE
from controller.models.base import dns_label_validator

# The manifest schema's rule, checked here too so the form can show it beside the field.
image_validator = RegexValidator(IMAGE_PATTERN, IMAGE_RULE)
model_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$",
    "must be a model name such as 'qwen3.5-plus': letters, digits and . _ : / @ + -, no spaces",
)


class ImageForm(forms.Form):
    image = forms.CharField(
        label="Image",
        max_length=500,
        validators=[image_validator],
        help_text="Changing the image restarts the worker with the new one (a rollout).",
    )


class ModelForm(forms.Form):
    model = forms.CharField(
        label="Model",
        max_length=200,
        validators=[model_validator],
        help_text="The LLM the worker uses through the gateway; changed without a restart.",
    )


class DebugWorkerForm(forms.Form):
    name = forms.CharField(
        label="DebugWorker name",
        max_length=63,
        validators=[dns_label_validator],
        help_text="Lowercase letters, digits and '-'.",
    )


def first_error(form: forms.Form) -> tuple[str, str]:
    """(field, "field: message") of a form's first error."""
    field, errors = next(iter(form.errors.items()))
    return field, f"{field}: {errors[0]}"
