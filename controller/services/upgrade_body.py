"""An upgrade (push or rollout) as the API, the CLI and the dashboard's live page show it.

One builder, so the REST answer (``/api/v1/upgrades``) and the WebSocket
messages of the Upgrades page carry the same fields. The pydantic shapes
describe the body for the OpenAPI document; ``upgrade_body`` fills them from
rows already loaded (targets prefetched: no query per upgrade).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from controller.models import TargetState, Upgrade, UpgradeTarget

CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class UpgradeProgress(BaseModel):
    done: int = Field(description="targets finished")
    total: int = Field(description="all targets")
    failed: int = Field(description="targets that failed (counted in neither done nor pending)")


class UpgradeTargetBody(BaseModel):
    model_config = CAMEL

    worker: str
    position: int = Field(description="order taken: rollouts take workers first, the leader last")
    state: Literal["pending", "running", "done", "failed"]
    message: str = Field(description="why it failed, or what it is doing")
    from_image: str = Field(description="a rollout target's image before it")
    started_at: datetime | None
    finished_at: datetime | None


class UpgradeBody(BaseModel):
    """A config/skills push or an image rollout, with its per-target progress."""

    model_config = CAMEL

    id: int
    kind: Literal["push", "rollout"]
    scope: Literal["worker", "team", "all"]
    target: str = Field(description="the worker or team named; empty for every worker")
    team: str = Field(description="the targets' team; empty for standalone workers or every worker")
    state: Literal["Pending", "Running", "Paused", "Done", "Failed", "Aborted"]
    message: str
    image: str = Field(description="a rollout's new image")
    version: str = Field(description="a push's skills catalogue version")
    max_unavailable: int = Field(description="a rollout's targets restarted at once")
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: UpgradeProgress
    targets: list[UpgradeTargetBody]


class UpgradeList(BaseModel):
    upgrades: list[UpgradeBody]
    total: int
    next: str | None = Field(description="the next page, or null")


def with_targets(upgrades):
    """``upgrades`` (a queryset) with what ``upgrade_body`` reads loaded in one more query."""
    return upgrades.prefetch_related("targets")


def upgrade_body(upgrade: Upgrade) -> dict[str, Any]:
    """The JSON of one upgrade; its targets should be prefetched (``with_targets``)."""
    targets: list[UpgradeTarget] = sorted(upgrade.targets.all(), key=lambda t: (t.position, t.worker))
    states = [target.state for target in targets]
    body = UpgradeBody.model_construct(
        id=upgrade.pk,
        kind=upgrade.kind,  # type: ignore[arg-type]  # a Kind column: one of the Literal's values
        scope=upgrade.scope,  # type: ignore[arg-type]  # a Scope column
        target=upgrade.target,
        team=upgrade.team,
        state=upgrade.state,  # type: ignore[arg-type]  # an UpgradeState column
        message=upgrade.message,
        image=upgrade.image,
        version=upgrade.version,
        max_unavailable=upgrade.max_unavailable,
        requested_by=upgrade.requested_by,
        created_at=upgrade.created_at,
        started_at=upgrade.started_at,
        finished_at=upgrade.finished_at,
        progress=UpgradeProgress(
            done=states.count(TargetState.DONE), total=len(states), failed=states.count(TargetState.FAILED)
        ),
        targets=[_target(target) for target in targets],
    )
    return body.model_dump(mode="json", by_alias=True)


def _target(target: UpgradeTarget) -> UpgradeTargetBody:
    return UpgradeTargetBody.model_construct(
        worker=target.worker,
        position=target.position,
        state=target.state,  # type: ignore[arg-type]  # a TargetState column
        message=target.message,
        from_image=target.from_image,
        started_at=target.started_at,
        finished_at=target.finished_at,
    )
