"""``manage.py hiclaw_watch``: run the watchers (controller/services/watchers.py) until stopped.

Production runs exactly one of these per controller (the Helm chart's watch
Deployment: one replica, Recreate); embedded mode runs the same watchers
inside ``hiclaw_run``.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from controller.services import watchers


class Command(BaseCommand):
    help = "Watch the backend (and, with HICLAW_WATCH_CRDS, the hiclaw.io objects) and queue reconciles."

    def handle(self, *args, **options) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        threads = watchers.start(stop)
        self.stdout.write(f"watching: {', '.join(thread.name for thread in threads)}")
        stop.wait()
        for thread in threads:
            thread.join(timeout=10)
