"""Live notices for upgrades, sent whenever an ``Upgrade`` or ``UpgradeTarget`` is saved.

Pushes and rollouts are carried out by several services (and resumed by the
periodic resync); hooking the saves here means none of them has to remember to
tell the dashboard, and a new one cannot forget. Connected once by the app's
``ready()``. A queryset ``update()`` or ``bulk_create`` sends no signal: code
using one calls ``live.upgrade_changed`` itself (a create of the upgrade row
that precedes its targets' ``bulk_create`` already sends one, after commit,
when the targets are there too).
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from controller.models import Upgrade, UpgradeTarget
from controller.services import live


def _upgrade_saved(sender, instance: Upgrade, **kwargs) -> None:
    live.upgrade_changed(instance.pk, instance.team)


def _target_saved(sender, instance: UpgradeTarget, **kwargs) -> None:
    if UpgradeTarget.upgrade.is_cached(instance):
        team = instance.upgrade.team
    else:
        team = Upgrade.objects.filter(pk=instance.upgrade_id).values_list("team", flat=True).first() or ""
    live.upgrade_changed(instance.upgrade_id, team)


def connect() -> None:
    post_save.connect(_upgrade_saved, sender=Upgrade, dispatch_uid="live-upgrade-saved")
    post_delete.connect(_upgrade_saved, sender=Upgrade, dispatch_uid="live-upgrade-deleted")
    post_save.connect(_target_saved, sender=UpgradeTarget, dispatch_uid="live-upgrade-target-saved")
