"""A DebugWorker's markdown report: one section per target worker over the job's window.

Written to ``debug/<name>/output/debug-report-<UTC timestamp>.md``. A report
about one worker (``job.worker``) or every workspace the DebugWorker mounts;
each worker's section is built by ``debug_report_worker``. The Matrix
messages come from the same reading as the export (``debug_export``); a
DebugWorker without a credential, or a homeserver that does not answer, gets
a report that says so instead of failing. Sizes are bounded per excerpt, per
section and for the whole report, each cut marked with a notice.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.clients.matrix import MatrixError
from controller.connections import Connections
from controller.models import DebugJob, DebugWorker, Worker
from controller.services.debug_export import NoCredential, read_rooms, window, working_session
from controller.services.debug_markdown import REPORT_CHARS, truncated
from controller.services.debug_report_worker import ReportContext, worker_report
from controller.services.debug_targets import mounted_targets, output_prefix, resolve

OUTPUT_FOLDER = "output/"
# Lower than the export's: a report shows a worker's messages, not whole rooms.
MAX_EVENTS_PER_ROOM = 1000
MAX_MESSAGE_BYTES = 5 * 1024 * 1024


def report(job: DebugJob, connections: Connections, progress: Callable[[int], None]) -> list[str]:
    """Write the report; return its key."""
    debugworker = job.debugworker
    since, until = window(job.hours)
    workers = [job.worker] if job.worker else mounted_targets(debugworker)
    context = ReportContext(connections.storage, since, until, known=_secrets(debugworker, workers))
    _read_messages(context, debugworker, connections)
    progress(20)
    parts = [_header(job, debugworker, workers, context)]
    for index, name in enumerate(workers):
        parts.append(worker_report(context, name))
        progress(20 + int(75 * (index + 1) / len(workers)))
    text = truncated("\n".join(parts), REPORT_CHARS)
    key = _report_key(debugworker, job, connections, until.strftime("%Y%m%dT%H%M%SZ"))
    connections.storage.put(key, text.encode(), content_type="text/markdown; charset=utf-8")
    return [key]


def _secrets(debugworker: DebugWorker, workers: list[str]) -> list[str]:
    """Credentials the controller holds that could turn up in what agents wrote: hidden by value too."""
    tokens = Worker.objects.filter(name__in=workers).values_list("matrix_access_token", flat=True)
    return [secret for secret in [debugworker.matrix_access_token, *tokens] if secret]


def _read_messages(context: ReportContext, debugworker: DebugWorker, connections: Connections) -> None:
    if connections.matrix is None:
        context.matrix_note = "Matrix is disabled on this controller; no messages were read."
        return
    try:
        session = working_session(connections.matrix, debugworker)
        context.rooms = [
            history
            for _, _, history in read_rooms(
                connections.matrix,
                session,
                context.since,
                max_events=MAX_EVENTS_PER_ROOM,
                max_bytes=MAX_MESSAGE_BYTES,
            )
        ]
    except NoCredential as error:
        context.matrix_note = f"{error}."
    except MatrixError as error:
        context.matrix_note = f"The homeserver could not be read ({error.errcode or 'no answer'}, {error.status})."


def _header(job: DebugJob, debugworker: DebugWorker, workers: list[str], context: ReportContext) -> str:
    lines = [
        f"# Debug report of debugworker/{debugworker.name}",
        "",
        f"- Window: the last {job.hours} hour(s), {context.since.isoformat(timespec='seconds')} to "
        f"{context.until.isoformat(timespec='seconds')} (UTC)",
        f"- Requested by: {job.requested_by}",
        f"- Workers: {', '.join(workers) or 'none (it mounts no workspace yet)'}",
    ]
    missing = resolve(debugworker).missing
    if missing and not job.worker:
        lines.append(f"- Targets that do not exist: {', '.join(missing)}")
    rooms = f"{len(context.rooms)} room(s) read" if not context.matrix_note else context.matrix_note
    lines += [f"- Matrix: {rooms}", "", "Secrets are replaced by `[redacted]`; long content is cut with a notice.", ""]
    return "\n".join(lines)


def _report_key(debugworker: DebugWorker, job: DebugJob, connections: Connections, stamp: str) -> str:
    key = f"{output_prefix(debugworker)}{OUTPUT_FOLDER}debug-report-{stamp}.md"
    if connections.storage.exists(key):  # two reports in the same second keep both
        key = f"{output_prefix(debugworker)}{OUTPUT_FOLDER}debug-report-{stamp}-{str(job.pk)[:8]}.md"
    return key
