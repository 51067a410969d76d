"""The Celery application: reconciles and periodic sweeps run here."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init

from hiclaw_site.datadir import DataDirError, require_store

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiclaw_site.settings")

app = Celery("hiclaw_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _require_store(**_) -> None:
    """A worker or beat started against a store never set up says so, instead of failing later."""
    try:
        require_store()
    except DataDirError as exc:
        raise SystemExit(f"error: {exc}") from None
