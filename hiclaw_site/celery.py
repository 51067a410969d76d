"""The Celery application: reconciles and periodic sweeps run here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiclaw_site.settings")

app = Celery("hiclaw_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
