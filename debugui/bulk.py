"""Sleep, wake or ensure ready every worker a filter of the worker list matches, with one
confirmation.

The form on ``/workers/`` posts the list's filters (``q``, ``team``, ``phase``,
``health``). Without ``confirmed`` the confirmation page names the matching workers
and posts them back by name, so what is confirmed is what is acted on even if the
filter would match others by then. The page's own dialog confirms the count the list
shows (kept current live) and posts it as ``count`` with the filters: when the filters
match another number by then, nothing is done and the answer says the current count.
Each worker goes through the same operation, and so the same authorization policy, as
its own button; one refused worker does
not stop the others, and the answer says what happened to each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from controller import policy
from controller.errors import DomainError
from controller.models import AgentPhase, DesiredState, Worker
from controller.services import operations
from debugui import queries
from debugui.actions import ActionFailed, confirmed_action, failed_answer, next_url
from debugui.views import principal_of

MOST = 500  # workers one bulk action may touch: a filter this wide is more likely a mistake
ENSURE_READY_WAIT = 5.0  # seconds the request waits for all of them; the page shows the rest live
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class BulkAction:
    verb: str  # "put to sleep": what the question and the answer say
    state: str  # the desired state each worker gets


BULK_ACTIONS = {
    "sleep": BulkAction("put to sleep", DesiredState.SLEEPING),
    "wake": BulkAction("woken", DesiredState.RUNNING),
    "ensure-ready": BulkAction("woken and waited for", DesiredState.RUNNING),
}


@require_POST
@login_required
def workers_bulk(request: HttpRequest, action: str) -> HttpResponse:
    bulk = BULK_ACTIONS.get(action)
    if bulk is None:
        raise Http404("no such action")
    principal = principal_of(request)
    title = action.replace("-", " ").capitalize()
    back = next_url(request, reverse("debugui:workers"))
    try:
        workers = _chosen(principal, request)
        _same_count(request, len(workers))
    except ActionFailed as failure:
        return failed_answer(request, failure, {"title": title, "question": "", "form": None}, back)
    names = [worker.name for worker in workers]
    question = f"{len(names)} worker{'s' if len(names) != 1 else ''} will be {bulk.verb}: {', '.join(names)}."
    confirm = {"title": f"{title}: {len(names)} workers", "question": question, "form": None, "names": names}
    return confirmed_action(request, confirm, back, lambda: _run(principal, action, workers))


def _chosen(principal: policy.Principal, request: HttpRequest) -> list[Worker]:
    visible = queries.visible_workers(principal)
    if request.POST.get("confirmed") and request.POST.getlist("name"):
        rows = visible.filter(name__in=request.POST.getlist("name"))  # what the confirmation page named
    else:
        rows, _ = queries.filtered_workers(visible, request.POST)
    workers = list(rows.order_by("name")[: MOST + 1])
    if not workers:
        raise ActionFailed("no worker you may act on matches these filters", 400)
    if len(workers) > MOST:
        raise ActionFailed(f"these filters match more than {MOST} workers: narrow them first", 400)
    return workers


def _same_count(request: HttpRequest, matched: int) -> None:
    """Refuse a confirmation of the filters given for another number of workers than they match now."""
    confirmed = request.POST.get("count", "")
    if not request.POST.get("confirmed") or request.POST.getlist("name") or not confirmed.isdigit():
        return
    if int(confirmed) != matched:
        noun = "worker" if matched == 1 else "workers"
        raise ActionFailed(
            f"These filters match {matched} {noun} now, not the {confirmed} you confirmed: nothing was done. "
            "Check the list and confirm again.",
            409,
            "count",
            count=matched,
        )


def _run(principal: policy.Principal, action: str, workers: list[Worker]) -> str:
    bulk = BULK_ACTIONS[action]
    done, refused = [], []
    for worker in workers:
        try:
            operations.set_state(principal, worker, bulk.state)
            done.append(worker)
        except DomainError as error:
            refused.append(f"{worker.name}: {error.describe()}")
    if not done:
        raise ActionFailed("; ".join(refused), 403)
    answer = f"{len(done)} {'worker' if len(done) == 1 else 'workers'} {bulk.verb}"
    if action == "ensure-ready":
        ready = _wait_running([worker.pk for worker in done])
        answer += f"; {ready} running now" + ("" if ready == len(done) else ", the page updates as the rest start")
    else:
        answer += "; the reconciles follow"
    return answer + "." + (f" Refused: {'; '.join(refused)}." if refused else "")


def _wait_running(pks: list[int]) -> int:
    """How many of the workers run, waiting up to ``ENSURE_READY_WAIT`` for all of them."""
    deadline = time.monotonic() + ENSURE_READY_WAIT
    while True:
        running = Worker.objects.filter(pk__in=pks, phase=AgentPhase.RUNNING).count()
        if running == len(pks) or time.monotonic() >= deadline:
            return running
        time.sleep(POLL_SECONDS)
