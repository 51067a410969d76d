"""Shared set-up of the benchmark scripts: Django configured from the environment, on a throwaway database.

Importing this module puts the repository root on ``sys.path`` (the scripts
run from ``bench/``). Each script calls ``configure()`` before it uses models:
it points ``HICLAW_DATA_DIR`` at a temp dir, creates the PostgreSQL database
when it is missing, runs ``django.setup()``, prepares the data dir and migrates.
``unwind_on_sigterm()`` lets their clean-up run on SIGTERM too.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://hiclaw:hiclaw@127.0.0.1:5432/hiclaw_bench"  # the role scripts/test-services.sh makes
sys.path.insert(0, str(ROOT))


def configure(data_dir: Path, database_url: str, **env: str) -> None:
    """Set the controller's environment variables, then set Django up and migrate the database."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "hiclaw_site.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "HICLAW_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            **env,
        }
    )
    # The reconciler logs each step at INFO; the figures are the output here.
    os.environ.setdefault("HICLAW_LOG_LEVEL", "WARNING")
    if database_url:  # empty: SQLite in the data dir, as the embedded mode
        ensure_database(database_url)

    import django
    from django.core.management import call_command

    django.setup()
    # What `manage.py migrate` does first: the data dir, and the embedded broker's folders in it.
    from hiclaw_site.datadir import prepare

    prepare()
    call_command("migrate", interactive=False, verbosity=0)


def ensure_database(database_url: str) -> None:
    """Create the PostgreSQL database named in ``database_url`` unless it exists."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    params = dj_database_url.parse(database_url)
    connect = {
        "host": params["HOST"] or None,
        "port": params["PORT"] or None,
        "user": params["USER"] or None,
        "password": params["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **connect) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [params["NAME"]]).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(params["NAME"])))


def unwind_on_sigterm() -> None:
    """Make SIGTERM raise SystemExit, as Ctrl-C raises KeyboardInterrupt, so the scripts' clean-up runs."""
    signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"stopped by signal {signum}")


SETTLE_POLL_SECONDS = 0.05


def wait_settled(names: list[str], since: float, timeout: float, phase: str = "Sleeping") -> float | None:
    """Seconds from ``since`` (a ``time.perf_counter()`` value) until every Worker in ``names``
    has had its current generation reconciled and shows ``phase`` (what a completed pass
    leaves); None after ``timeout``. One counting query per poll, whatever the number."""
    from django.db.models import F

    from controller.models import Worker

    rows = Worker.objects.filter(name__in=names, observed_generation__gte=F("generation"), phase=phase)
    while True:
        settled, now = rows.count(), time.perf_counter()
        if settled == len(names):
            return now - since
        if now > since + timeout:
            return None
        time.sleep(SETTLE_POLL_SECONDS)


_SLEEPING_WORKER = """\
---
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {{name: {name}}}
spec: {{model: qwen3.5-plus, state: Sleeping, soul: "Benchmark worker."}}
"""


def sleeping_workers(names: list[str]) -> str:
    """A manifest of one Worker per name, in state Sleeping (a pass starts no instance)."""
    return "".join(_SLEEPING_WORKER.format(name=name) for name in names)
