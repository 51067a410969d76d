"""Dashboard actions: POST forms (with CSRF) carried out by the operations service, so the
policy that guards the API guards them too.

A form posted without ``confirmed`` gets a confirmation page (the path without
JavaScript). The page script asks in a dialog instead, posts with
``confirmed=1`` and ``Accept: application/json`` and shows the answer
``{"ok", "message", "field"?}`` beside the control. A refusal of the domain
is answered with its own message, status and field (as the API answers it); a
resource the login may not see is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from controller import policy
from controller.errors import DomainError
from controller.manifests import parse_objects
from controller.models import API_VERSION, DebugWorker, Team, Worker
from controller.services import operations
from controller.services.debugworkers import debugworker_spec
from debugui import queries
from debugui.forms import DebugWorkerForm, ImageForm, ModelForm, first_error
from debugui.versions import team_rollout_question
from debugui.views import principal_of

FORM_FIELDS = ("image", "model", "name")  # the controls of the action forms
ENSURE_READY_WAIT = 5.0  # seconds a request waits for Running; the page shows the rest live


class ActionFailed(Exception):
    """An action did not happen: ``message`` says why, ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int, field: str = "", **extra):
        self.message, self.status, self.field = message, status, field
        self.extra = extra  # more for the page script to read from a JSON answer (a bulk action's count)
        super().__init__(message)


@dataclass(frozen=True)
class WorkerAction:
    label: str  # the button
    question: str  # the confirmation, "{name}" filled in
    run: Callable[[policy.Principal, Worker, dict], str]  # returns what happened, in words
    form: type[forms.Form] | None = None


def _set_state(state: str, verb: str) -> Callable[[policy.Principal, Worker, dict], str]:
    def run(principal: policy.Principal, worker: Worker, data: dict) -> str:
        operations.set_state(principal, worker, state)
        return f"{worker.name}: {verb} (desired state {state}); the reconcile follows."

    return run


def _ensure_ready(principal: policy.Principal, worker: Worker, data: dict) -> str:
    readiness = operations.ensure_ready(principal, worker, ENSURE_READY_WAIT)
    if readiness.removed:
        raise policy.NotFound("Worker", worker.name)  # as the API answers it
    if readiness.ready:
        return f"{worker.name} is ready (phase Running)."
    detail = f": {readiness.message}" if readiness.message else ""
    return f"{worker.name} is not running yet (phase {readiness.phase}{detail}); this page updates when it is."


PUSH_QUESTION = (
    "Push config and skills to {what}? The current built-in skills and regenerated config are copied "
    "into the workspace and the worker is told in its room; nothing restarts."
)


def _push(principal: policy.Principal, worker: Worker, data: dict) -> str:
    push = operations.request_push(principal, worker=worker.name)
    return f"{worker.name}: push #{push.pk} queued; nothing restarts. Progress is on the Upgrades page."


def _update(field: str) -> Callable[[policy.Principal, Worker, dict], str]:
    def run(principal: policy.Principal, worker: Worker, data: dict) -> str:
        outcome = operations.update_worker(principal, worker, {field: data[field]})
        if outcome.action == "unchanged":
            return f"{worker.name}: {field} is already {data[field]}."
        return f"{worker.name}: {field} set to {data[field]}; the reconcile follows."

    return run


WORKER_ACTIONS = {
    "wake": WorkerAction("Wake", "Wake {name}? It starts again with its workspace.", _set_state("Running", "waking")),
    "sleep": WorkerAction(
        "Sleep", "Put {name} to sleep? Its instance stops; its workspace is kept.", _set_state("Sleeping", "sleeping")
    ),
    "ensure-ready": WorkerAction("Ensure ready", "Wake {name} if needed and wait until it runs?", _ensure_ready),
    "image": WorkerAction(
        "Roll out image",
        "Roll out a new image to {name}? This worker restarts on it (its workspace is kept); no other worker does.",
        _update("image"),
        ImageForm,
    ),
    "model": WorkerAction("Change model", "Change the model of {name}?", _update("model"), ModelForm),
    "push": WorkerAction("Push config/skills", PUSH_QUESTION.format(what="{name}"), _push),
}


# --- views ---------------------------------------------------------------------------------
@require_POST
@login_required
def worker_action(request: HttpRequest, name: str, action: str) -> HttpResponse:
    spec = WORKER_ACTIONS.get(action)
    if spec is None:
        raise Http404(f"worker/{name} not found")  # no such action on any worker
    principal = principal_of(request)
    worker = queries.named_or_404(queries.visible_workers(principal), name)
    form = spec.form(request.POST) if spec.form else None
    back = next_url(request, reverse("debugui:worker", args=[name]))
    confirm = {"title": f"{spec.label}: {name}", "question": spec.question.format(name=name), "form": form}
    return confirmed_action(
        request, confirm, back, lambda: spec.run(principal, worker, form.cleaned_data if form else {})
    )


@require_POST
@login_required
def push_to_team(request: HttpRequest, name: str) -> HttpResponse:
    principal = principal_of(request)
    queries.named_or_404(policy.visible(principal, Team.objects.all()), name)  # a team it may not see is a 404
    back = next_url(request, reverse("debugui:team", args=[name]))
    question = PUSH_QUESTION.format(what=f"every member of team {name}")
    confirm = {"title": f"Push config/skills to {name}", "question": question, "form": None}
    return confirmed_action(request, confirm, back, lambda: _push_team(principal, name))


def _push_team(principal: policy.Principal, team: str) -> str:
    push = operations.request_push(principal, team=team)
    total = push.targets.count()
    return (
        f"team {team}: push #{push.pk} to {total} workers queued; nothing restarts. Progress is on the Upgrades page."
    )


def team_image(request: HttpRequest, name: str) -> HttpResponse:
    """Roll a new image out to a team: the team's ``spec.image`` changes, and each member
    without an image of its own restarts on it, one at a time (the Worker reconciler's rollout)."""
    principal = principal_of(request)
    team = queries.named_or_404(policy.visible(principal, Team.objects.all()), name)
    form = ImageForm(request.POST)
    back = next_url(request, reverse("debugui:team", args=[name]))
    image = request.POST.get("image", "")
    confirm = {"title": f"Roll out image: team {name}", "question": team_rollout_question(team, image), "form": form}
    return confirmed_action(request, confirm, back, lambda: _roll_out(principal, team, form.cleaned_data["image"]))


def _roll_out(principal: policy.Principal, team: Team, image: str) -> str:
    if team.image == image:
        return f"team {team.name}: the image is already {image}; nothing restarts."
    metadata = {"name": team.name, "labels": team.labels, "annotations": team.annotations}
    manifest = {"apiVersion": API_VERSION, "kind": "Team", "metadata": metadata, "spec": {**team.spec, "image": image}}
    operations.apply_as(principal, parse_objects([manifest]))
    return f"team {team.name}: image set to {image}; members restart on it one at a time (see Upgrades)."


@require_POST
@login_required
def create_debugworker(request: HttpRequest, name: str) -> HttpResponse:
    principal = principal_of(request)
    queries.named_or_404(policy.visible(principal, Team.objects.all()), name)  # a team it may not see is a 404
    form = DebugWorkerForm(request.POST)
    back = next_url(request, reverse("debugui:team", args=[name]))
    question = f"Create a DebugWorker for team {name}? It mirrors the workspaces of the team's members."
    confirm = {"title": f"New DebugWorker for {name}", "question": question, "form": form}
    return confirmed_action(
        request, confirm, back, lambda: _create_debugworker(principal, name, form.cleaned_data["name"])
    )


@require_POST
@login_required
def delete_debugworker(request: HttpRequest, name: str) -> HttpResponse:
    principal = principal_of(request)
    debugworker = queries.named_or_404(policy.visible(principal, DebugWorker.objects.all()), name)
    fallback = (
        reverse("debugui:team", args=[debugworker.team_name])
        if debugworker.team_name
        else reverse("debugui:debugworkers")
    )
    back = next_url(request, fallback)
    confirm = {"title": f"Delete {name}", "question": f"Delete DebugWorker {name} and its instance?", "form": None}
    return confirmed_action(request, confirm, back, lambda: _delete(principal, debugworker))


def _create_debugworker(principal: policy.Principal, team: str, name: str) -> str:
    if DebugWorker.objects.filter(name=name).exists():
        # Names are unique across teams; the answer names no owner.
        raise ActionFailed(f"name: the name {name!r} is taken; choose another name", 409, "name")
    spec, annotations = debugworker_spec(principal, {"team": team})
    metadata = {"name": name, "annotations": annotations}
    manifest = {"apiVersion": API_VERSION, "kind": "DebugWorker", "metadata": metadata, "spec": spec}
    operations.apply_as(principal, parse_objects([manifest]))
    return f"debugworker/{name} created for team {team}; the reconcile starts it."


def _delete(principal: policy.Principal, debugworker: DebugWorker) -> str:
    operations.delete(principal, debugworker)
    return f"debugworker/{debugworker.name}: deletion requested."


# --- answers -------------------------------------------------------------------------------
def confirmed_action(request: HttpRequest, confirm: dict, back: str, run: Callable[[], str]) -> HttpResponse:
    """Check the form, ask for confirmation unless given, carry out ``run`` and answer."""
    form = confirm["form"]
    try:
        if form is not None and not form.is_valid():
            field, message = first_error(form)
            raise ActionFailed(message, 400, field)
        if not request.POST.get("confirmed"):
            return _confirm_page(request, confirm, back)
        done = _carried_out(run)
    except ActionFailed as failure:
        return failed_answer(request, failure, confirm, back)
    return _done(request, done, back)


def _carried_out(run: Callable[[], str]) -> str:
    """Run an operation; a refusal of the domain becomes ``ActionFailed`` with its own words,
    status and field."""
    try:
        return run()
    except DomainError as error:
        raise ActionFailed(error.describe(), error.status, form_field(error.field)) from None


def form_field(path: str) -> str:
    """The control a field path points at: a request field is one already; of a manifest path
    (``spec.workers[1].image``) the last part, when the page has a control of that name."""
    if "." not in path:
        return path
    last = path.rsplit(".", 1)[-1]
    return last if last in FORM_FIELDS else ""


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


def next_url(request: HttpRequest, fallback: str) -> str:
    wanted = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if wanted and safe else fallback


def _confirm_page(request: HttpRequest, confirm: dict, back: str, error: ActionFailed | None = None) -> HttpResponse:
    context = {**confirm, "back": back, "error": error, "principal": principal_of(request)}
    return render(request, "debugui/confirm.html", context, status=error.status if error else 200)


def failed_answer(request: HttpRequest, failure: ActionFailed, confirm: dict, back: str) -> HttpResponse:
    if _wants_json(request):
        body = {"ok": False, "message": failure.message, **({"field": failure.field} if failure.field else {})}
        body.update(failure.extra)
        return JsonResponse(body, status=failure.status)
    return _confirm_page(request, confirm, back, failure)


def _done(request: HttpRequest, message: str, back: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": True, "message": message})
    messages.success(request, message)
    return redirect(back)
