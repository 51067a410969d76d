"""Every domain error has one meaning: the API and the dashboard answer it with the status and
field it carries (404 out of scope or missing, 403 forbidden, 422 quota or invalid, 409 conflict,
400 a malformed field), and the Django admin's form shows its words."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import controller
import debugui
from controller import policy
from controller.api.errors import hiclaw_exception_handler
from controller.errors import DomainError
from controller.manifests import ManifestError, ManifestInvalid
from controller.services.debugworkers import InvalidDebugRequest
from controller.services.heartbeats import InvalidHeartbeat
from controller.services.lifecycle import LifecycleRefused
from controller.services.logins import LoginRefused
from controller.services.rollouts import RolloutStateConflict
from debugui.actions import ActionFailed, _carried_out, form_field

# One example of each domain error class, and the status the decided rule gives it.
EXAMPLES = {
    policy.NotFound: (lambda: policy.NotFound("Team", "ghost", "team"), 404),
    policy.Denied: (lambda: policy.Denied("worker w may only act on itself"), 403),
    policy.QuotaExceeded: (lambda: policy.QuotaExceeded("team/t has 3 workers (used 3/max 3)"), 422),
    policy.TargetsDisagree: (lambda: policy.TargetsDisagree("spec.targets[0]", "worker/x is not a member"), 422),
    ManifestInvalid: (
        lambda: ManifestInvalid([ManifestError(1, "spec.workers[0].model", "too-long", "at most 200", "team/t")]),
        422,
    ),
    LifecycleRefused: (lambda: LifecycleRefused("worker/w is a member of team/t"), 409),
    InvalidDebugRequest: (lambda: InvalidDebugRequest("team", "must be a team name"), 400),
    InvalidHeartbeat: (lambda: InvalidHeartbeat("state", "must be one of idle, busy"), 400),
    RolloutStateConflict: (lambda: RolloutStateConflict("rollout #1 is Done; pause applies to Running rollouts"), 409),
    LoginRefused: (lambda: LoginRefused("human", "no Human named 'ghost'"), 400),
}


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_every_domain_error_class_is_pinned_here():
    """A new error class fails this test until it is given its status below."""
    for package in (controller, debugui):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    assert _subclasses(DomainError) == set(EXAMPLES)


@pytest.mark.parametrize(("make", "status"), EXAMPLES.values(), ids=[cls.__name__ for cls in EXAMPLES])
def test_the_api_and_the_dashboard_give_the_same_status_and_field(make, status):
    error = make()
    api = hiclaw_exception_handler(error, {})

    def refused():
        raise error

    with pytest.raises(ActionFailed) as dashboard:
        _carried_out(refused)
    assert api.status_code == dashboard.value.status == status
    assert api.data.get("field", "") == error.field
    assert dashboard.value.field == form_field(error.field)
    assert api.data["message"] == dashboard.value.message == error.describe()


def test_a_manifest_path_points_at_the_dashboard_control_of_its_last_part():
    assert form_field("spec.workers[0].image") == "image"
    assert form_field("spec.workers[0].soul") == ""
    assert form_field("team") == "team"


def test_the_admin_form_lists_every_problem_of_an_invalid_manifest():
    errors = [ManifestError(1, "spec.model", "required", "missing"), ManifestError(1, "spec.image", "x", "bad")]
    assert ManifestInvalid(errors).messages() == [str(error) for error in errors]
    assert policy.Denied("no").messages() == ["no"]
