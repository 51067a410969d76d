"""``manage.py hiclaw_run``: the one-command controller, embedded or production.

Migrates the database, makes sure an admin login exists, starts Celery in
process when no Redis is configured (embedded mode) and serves the ASGI app
(HTTP + WebSocket) with uvicorn on ``HOST``:``PORT``.

With ``--no-migrate`` (the Helm chart's web pods) it only checks that the
database is migrated: in production a Job migrates once before a new version
serves, and several web replicas racing to migrate would step on each other.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading

import uvicorn
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from controller.backends.base import InstanceState
from controller.backends.process import ProcessBackend
from controller.connections import default_connections
from controller.embedded import EmbeddedCelery
from controller.services import watchers


class Command(BaseCommand):
    help = "Migrate, ensure an admin login, and serve the controller (embedded Celery unless REDIS_URL is set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--no-migrate",
            action="store_true",
            help="Do not migrate; refuse to start if migrations are pending (production runs them in a Job).",
        )

    def handle(self, *args, host: str, port: int, no_migrate: bool, **options) -> None:
        if no_migrate:
            self._require_migrated()
        else:
            call_command("migrate", interactive=False, verbosity=0)
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
        self._ensure_admin()
        if not settings.HICLAW_CONTROLLER_URL:
            # Agents started by this controller reach its API at the bind address.
            reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
            settings.HICLAW_CONTROLLER_URL = f"http://{reachable}:{port}"

        celery = (
            EmbeddedCelery(settings.DATA_DIR / "celerybeat-schedule", settings.HICLAW_EMBEDDED_CONCURRENCY)
            if settings.EMBEDDED
            else None
        )
        stop_watching = threading.Event()
        if celery:
            celery.start()
            # Production runs these in `manage.py hiclaw_watch`, once for all web replicas.
            watchers.start(stop_watching)
        mode = "embedded (in-process Celery)" if celery else "production (Celery on Redis)"
        self.stdout.write(f"HiClaw controller on http://{host}:{port}/ — {mode}, data in {settings.DATA_DIR}")
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again; as an
        # exception here, it lets the embedded Celery stop and the closing words be said.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            uvicorn.run("hiclaw_site.asgi:application", host=host, port=port, lifespan="off", log_level="info")
        except KeyboardInterrupt:
            pass
        finally:
            stop_watching.set()
            if celery:
                celery.stop()
            self._say_what_keeps_running()

    def _require_migrated(self) -> None:
        """Stop with one clear line when the schema is behind the code, rather than fail per request."""
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            first = pending[0][0]
            raise CommandError(
                f"{len(pending)} migration(s) not applied (first: {first.app_label}.{first.name}): "
                "run `manage.py migrate` first (the Helm chart's migration Job does)"
            )

    def _say_what_keeps_running(self) -> None:
        """Local worker processes outlive the server, as containers would: say so on the way out."""
        backend = default_connections().backend
        if not isinstance(backend, ProcessBackend):
            return
        running = [info.resource for info in backend.list() if info.state == InstanceState.RUNNING]
        if running:
            names = ", ".join(sorted(running)[:5]) + (", …" if len(running) > 5 else "")
            self.stdout.write(
                f"Stopped. {len(running)} local worker process(es) keep running ({names}); the next start "
                "takes them back. To stop them too, put their workers to sleep before stopping the controller."
            )
        else:
            self.stdout.write("Stopped. No local worker process is running.")

    def _ensure_admin(self) -> None:
        """Create the admin login from env, or once with a generated password."""
        User = get_user_model()
        username = os.environ.get("HICLAW_ADMIN_USER", "admin")
        password = os.environ.get("HICLAW_ADMIN_PASSWORD")
        if password:
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
            self.stdout.write(f"Admin login: {username} (password from HICLAW_ADMIN_PASSWORD)")
        elif not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, password=password, email="")
            self.stdout.write(f"Admin login created: {username} / {password}  (shown once; keep it)")
        else:
            self.stdout.write("Admin login: an admin account already exists")
