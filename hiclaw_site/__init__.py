"""Django project of the HiClaw controller: settings, URLs, ASGI and Celery apps."""

from hiclaw_site.celery import app as celery_app

__all__ = ("celery_app",)
