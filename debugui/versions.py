"""Which workers lag behind: the versions the team page and the Upgrades page point out.

A member is a straggler when its running image is not the one it should run,
its skills are older than its team's (the latest push's version, else the
newest any member reports), or its agent said it needs an upgrade (the
``UpgradeRequired`` condition, set from heartbeats). Each reason is spelled
out in words, so the page does not rely on colour alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q, QuerySet

from controller.models import Team, Upgrade, UpgradeState, Worker
from controller.reconcilers.worker import RUNTIME_IMAGES

UPGRADE_REQUIRED = "UpgradeRequired"


def desired_image(worker: Worker) -> str:
    """The image the worker should run: its own, else its runtime's default."""
    return worker.image or getattr(settings, RUNTIME_IMAGES.get(worker.runtime, "HICLAW_WORKER_IMAGE"))


def upgrade_required(worker: Worker) -> dict | None:
    """The worker's ``UpgradeRequired`` condition when it is True."""
    condition = worker.condition(UPGRADE_REQUIRED)
    return condition if condition is not None and condition.get("status") == "True" else None


def needing_upgrade(workers: QuerySet[Worker]) -> list[str]:
    """Names of ``workers`` whose agents report they need an upgrade (conditions are JSON, read here)."""
    return sorted(
        name
        for name, conditions in workers.values_list("name", "conditions")
        if any(c.get("type") == UPGRADE_REQUIRED and c.get("status") == "True" for c in conditions or [])
    )


def _version_key(version: str) -> tuple:
    """Orders ``2026.9.1`` before ``2026.12.0``: numbers as numbers, the rest as text."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.\-+]", version))


def team_skills_version(team: str, reported: Iterable[str]) -> str:
    """What a team's skills should be at: the latest running or finished push's version, else
    the newest of the versions its members report (``reported``); empty when neither is known."""
    latest = (
        Upgrade.objects.filter(Q(team=team) | Q(scope=Upgrade.Scope.ALL), kind=Upgrade.Kind.PUSH)
        .exclude(version="")
        .exclude(state__in=[UpgradeState.PENDING, UpgradeState.ABORTED])
        .values_list("version", flat=True)
        .first()
    )
    if latest:
        return latest
    return max((version for version in reported if version), key=_version_key, default="")


@dataclass
class MemberVersions:
    worker: Worker
    desired_image: str
    behind: list[str] = field(default_factory=list)  # the reasons, in words


def member_versions(members: list[Worker], skills_target: str) -> list[MemberVersions]:
    rows = []
    for worker in members:
        row = MemberVersions(worker, desired_image(worker))
        if worker.running_image and worker.running_image != row.desired_image:
            row.behind.append(f"runs {worker.running_image}, should run {row.desired_image}")
        if skills_target and worker.skills_version and worker.skills_version != skills_target:
            row.behind.append(f"skills {worker.skills_version}, team at {skills_target}")
        required = upgrade_required(worker)
        if required is not None:
            row.behind.append(f"upgrade required{': ' + required['message'] if required.get('message') else ''}")
        rows.append(row)
    return rows


def team_rollout_question(team: Team, image: str) -> str:
    """What the confirmation says will restart: the members that take the team's image."""
    spec = team.spec
    entries = [spec["leader"], *spec.get("workers", [])]
    restarting = sum(1 for entry in entries if not entry.get("image"))
    own = [entry["name"] for entry in entries if entry.get("image")]
    at_once = team.typed_spec.upgrade.max_unavailable
    question = (
        f"Roll out {image or 'the new image'} to team {team.name}? "
        f"{restarting} {'member restarts' if restarting == 1 else 'members restart'} on it one at a time "
        f"(at most {at_once} down at once): workers first, the leader last."
    )
    if own:
        question += f" Keeping their own image: {', '.join(own)}."
    return question
