"""The workspace browser (docs/dashboard.md, "Workspace browser"): a DebugWorker's mounted
workspaces, exports and reports, one file's view, and its export and report jobs.

Only a login that ``policy.may_use`` the DebugWorker (its allowedUsers, admins)
gets any of it; anyone else gets the 404 a missing DebugWorker gets. Every
file asked for is named by (area, target, path) and resolved by
``workspace_browser.key_of``, so a crafted path never reaches storage. The
page is live through ``/ws/debug/<name>/`` (debugui/workspace_consumer.py);
without JavaScript its links and forms work as plain requests.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from controller import policy
from controller.clients.storage import LinkRefused, ObjectNotFound, StorageError, get_storage
from controller.errors import DomainError
from controller.models import DebugJob, DebugWorker
from controller.services import debug_jobs, debug_targets, workspace_browser
from controller.services.debug_targets import NotReadable
from debugui import viewer
from debugui.forms import first_error
from debugui.views import page_context, principal_of

RECENT_JOBS = 10


class DebugJobForm(forms.Form):
    kind = forms.ChoiceField(label="Job", choices=DebugJob.Kind.choices)
    hours = forms.IntegerField(
        label="Hours back", min_value=1, max_value=debug_jobs.MAX_HOURS, initial=24, help_text="How far back it looks."
    )
    worker = forms.CharField(label="Worker (reports only)", required=False, max_length=63)


def usable_or_404(request: HttpRequest, name: str) -> DebugWorker:
    """The DebugWorker if this login may use it; a 404 otherwise, as for one that does not exist."""
    debugworker = DebugWorker.objects.filter(name=name).first()
    if debugworker is None or not policy.may_use(principal_of(request), debugworker):
        raise Http404(f"debugworker/{name} not found")
    return debugworker


def open_file(debugworker: DebugWorker, area: str, target: str, path: str) -> tuple[int, str]:
    """(HTTP status, the viewer fragment) of one file, or of the reason it cannot be shown."""
    gone = viewer.render_error(f"{path}: no such file (deleted?)")
    try:
        key = workspace_browser.key_of(debugworker, area, target, path)
        source = workspace_browser.source_of(debugworker, area, target)
        storage = get_storage()
        info = storage.stat(key)
        if info is None:
            return 404, gone
        return 200, viewer.render(source.label, path, workspace_browser.read(storage, key), info.etag)
    except NotReadable as refused:
        return 400, viewer.render_error(f"refused: {refused.field}: {refused.message}")
    except ObjectNotFound:
        return 404, gone
    except LinkRefused:
        return 400, viewer.render_error("refused: path: it leads through a symbolic link, which is never followed")
    except StorageError:
        return 503, viewer.render_error("the storage could not be read; try again")


def _file_request(request: HttpRequest) -> tuple[str, str, str]:
    query = request.GET
    return query.get("area", workspace_browser.WORKSPACE), query.get("target", ""), query.get("path", "")


@require_GET
@login_required
def browser(request: HttpRequest, name: str) -> HttpResponse:
    debugworker = usable_or_404(request, name)
    storage = get_storage()
    tree = []
    for source in workspace_browser.sources(debugworker):
        try:
            files = list(workspace_browser.listing(storage, source).values())
        except StorageError:
            files = []
        tree.append({"source": source, "files": files})
    area, target, path = _file_request(request)
    context = page_context(
        request,
        debugworker=debugworker,
        tree=tree,
        opened=open_file(debugworker, area, target, path)[1] if path else "",
        jobs=list(DebugJob.objects.filter(debugworker=debugworker)[:RECENT_JOBS]),
        job_form=DebugJobForm(),
        targets=debug_targets.mounted_targets(debugworker),
        limit=workspace_browser.VIEW_LIMIT,
    )
    return render(request, "debugui/workspaces.html", context)


@require_GET
@login_required
def file_fragment(request: HttpRequest, name: str) -> HttpResponse:
    """The viewer of one file alone, for the page's script (and anyone linking to it)."""
    debugworker = usable_or_404(request, name)
    status, html = open_file(debugworker, *_file_request(request))
    return HttpResponse(html, status=status)


@require_POST
@login_required
def start_job(request: HttpRequest, name: str) -> HttpResponse:
    """Start an export or a report through ``debug_jobs.start`` (the same policy and bounds as the API)."""
    debugworker = usable_or_404(request, name)
    back = reverse("debugui:debug-workspaces", args=[name])
    form = DebugJobForm(request.POST)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        if not form.is_valid():
            field, message = first_error(form)
            return _refused(request, wants_json, message, field, back)
        data = form.cleaned_data
        job = debug_jobs.start(principal_of(request), debugworker, data["kind"], data["hours"], data["worker"])
    except policy.NotFound as missing:
        raise Http404(str(missing)) from None
    except DomainError as error:
        return _refused(request, wants_json, error.describe(), error.field, back, error.status)
    message = f"{job.kind} queued for debugworker/{name}; its progress shows below."
    if wants_json:
        url = reverse("debugui:debug-job", args=[name, job.pk])
        return JsonResponse({"ok": True, "message": message, "job": str(job.pk), "url": url})
    messages.success(request, message)
    return redirect(back)


def _refused(
    request: HttpRequest, wants_json: bool, message: str, field: str, back: str, status: int = 400
) -> HttpResponse:
    if wants_json:
        return JsonResponse({"ok": False, "message": message, "field": field}, status=status)
    messages.error(request, message)
    return redirect(back)


@require_GET
@login_required
def job_fragment(request: HttpRequest, name: str, job: str) -> HttpResponse:
    """One job's state, progress, message and files, polled by the page while it runs."""
    debugworker = usable_or_404(request, name)
    try:
        found = debug_jobs.find(principal_of(request), debugworker, job)
    except policy.NotFound:
        raise Http404(f"job {job} not found") from None
    prefix = debug_targets.output_prefix(debugworker)
    outputs = []
    for key in found.outputs:
        relative = key[len(prefix) :] if isinstance(key, str) and key.startswith(prefix) else ""
        target, _, path = relative.partition("/")
        outputs.append({"key": key, "target": target, "path": path})
    return render(request, "debugui/_job.html", {"job": found, "debugworker": debugworker, "outputs": outputs})
