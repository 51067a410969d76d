"""The Django app of the controller."""

from django.apps import AppConfig


class ControllerConfig(AppConfig):
    name = "controller"
    verbose_name = "HiClaw controller"

    def ready(self) -> None:
        # Registers the Celery tasks in every process that sets Django up, so a reconcile
        # queued by name (controller.reconcile_queue) runs inline in eager mode too.
        from controller import tasks  # noqa: F401

        # Registers each kind's manifest shape with the models (Resource.typed_spec).
        from controller.manifests import schema  # noqa: F401

        # Every saved upgrade or upgrade target tells the dashboard's live pages.
        from controller.services import upgrade_notices

        upgrade_notices.connect()

        # Every saved or deleted worker or DebugWorker, and every event about one, too.
        from controller.services import resource_notices

        resource_notices.connect()

        # A mirrored resource's changed status is written back to its hiclaw.io object
        # (the CRD front door; the handler does nothing unless HICLAW_WATCH_CRDS is on).
        from controller.services import crd_status

        crd_status.connect()
