"""Celery worker and beat inside the server process, for the embedded mode.

With no Redis the broker is kombu's filesystem transport under the data dir,
and the worker and the beat scheduler run as threads beside the ASGI server,
so one process is the whole controller
(docs/decisions/0002-embedded-and-production-one-code-path.md). The app is
Celery's current one, the project's (set up with Django), so this module needs no
import of the project package.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from celery import current_app, signals
from celery.beat import EmbeddedService
from celery.worker import WorkController
from celery.worker import state as worker_state

if TYPE_CHECKING:
    from celery.beat import _Threaded

logger = logging.getLogger(__name__)


class EmbeddedCelery:
    def __init__(self, schedule_file: Path, concurrency: int = 2):
        self.schedule_file = schedule_file
        self.concurrency = concurrency
        self._worker: WorkController | None = None
        self._worker_thread: threading.Thread | None = None
        self._beat: _Threaded | None = None

    def start(self) -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # a Proxy; the stub types it as the app
        app.set_current()
        app.set_default()
        folder = (app.conf.broker_transport_options or {}).get("data_folder_in")
        if str(app.conf.broker_url).startswith("filesystem") and folder:
            for name in set_aside_broken_messages(Path(folder)):
                logger.warning("broker message %s was half-written (a killed process?): set aside as .broken", name)
        self._worker = WorkController(
            app=app,
            hostname="embedded@localhost",
            pool="threads",
            concurrency=self.concurrency,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            # The `celery worker` command sends worker_ready when its consumer is ready; a bare
            # WorkController does not. Sending it here runs the same start-up work in both
            # modes (controller/tasks.py: publishing the skills catalogue, resuming pushes).
            ready_callback=lambda consumer: signals.worker_ready.send(sender=consumer),
        )
        self._worker_thread = threading.Thread(target=self._worker.start, name="celery-worker", daemon=True)
        self._worker_thread.start()
        # thread=True always gives the threaded service; the stubs cannot tell the two apart.
        self._beat = cast("_Threaded", EmbeddedService(app, thread=True, schedule_filename=str(self.schedule_file)))
        self._beat.start()
        logger.info("embedded Celery worker (%d threads) and beat started", self.concurrency)

    def stop(self, timeout: float = 10.0) -> None:
        if self._beat is not None:
            self._beat.stop()
        if self._worker is not None and self._worker_thread is not None:
            worker_state.should_terminate = 0  # type: ignore[assignment]  # stubs type it None; celery sets exit codes
            self._worker.stop(in_sighandler=False)
            self._worker_thread.join(timeout)
        logger.info("embedded Celery stopped")


# A message file that does not parse yet may be being written: it gets this long to settle.
SETTLED_SECONDS = 2.0


def set_aside_broken_messages(folder: Path) -> list[str]:
    """Rename to ``*.broken`` the queued message files that do not parse; return their names.

    A process killed while kombu's filesystem transport wrote a message leaves the file
    empty or cut short, and the transport stops the whole worker at the first file it cannot
    parse. Such a file is kept for a look but never delivered; what it asked for (a
    reconcile, a rollout's next look) is queued again by the periodic resync. A file its
    writer holds locked is left alone, and one that does not parse while young is given
    until it is ``SETTLED_SECONDS`` old (a restart often follows a kill within a second).
    """
    broken = []
    for path in sorted(folder.glob("*.msg")):
        try:
            if _parses(path):
                continue
            young = SETTLED_SECONDS - (time.time() - path.stat().st_mtime)
            if young > 0:
                time.sleep(young)
                if _parses(path):
                    continue
            path.rename(path.with_name(path.name + ".broken"))
            broken.append(path.name)
        except (BlockingIOError, FileNotFoundError):
            continue  # its writer holds it, or it was delivered meanwhile
    return broken


def _parses(path: Path) -> bool:
    with path.open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError while being written
        try:
            json.loads(handle.read())
        except (ValueError, UnicodeDecodeError):
            return False
    return True
