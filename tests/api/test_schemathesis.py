"""Schemathesis against the served OpenAPI schema: no operation answers 5xx, whatever it is sent,
and every answer is one the document describes (status code, content type and body shape), so the
document cannot drift from what the API really says.

The API runs in-process (Django's WSGI handler) inside each test's database
transaction, so what generated calls change (deletes, applies, pushes) is
rolled back after every operation's test and cannot leak into other tests.
Bounded for CI and repeatable: a fixed seed, the deterministic coverage phase
(boundary and wrong-type values) and 40 random examples per operation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import resolve
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from rest_framework.test import APIRequestFactory
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from controller.models import AgentToken
from tests.api.conftest import PERSONAS

# A fuzz run: it belongs to the full suite, not to the fast tier.
pytestmark = pytest.mark.slow

SCHEMA_PATH = "/api/v1/schema/"
EXAMPLES_PER_OPERATION = 40  # about 40 s for the module; each example is a real request
# What the ``world`` fixture applies: path and query values drawn from here hit real rows.
NAMES = ["a-dev", "a-qa", "a-lead", "b-dev", "b-lead", "solo", "team-a", "team-b", "alice", "default"]
TEAMS = ["team-a", "team-b"]
NEW_NAMES = ["new-one", "new-two"]  # valid names for creates, which get past the name check

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261127,
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none"},
        "phases": {"coverage": {"enabled": True}, "stateful": {"enabled": False}},
        "dictionaries": {
            "names": {"values": NAMES},
            "teams": {"values": TEAMS},
            "body-names": {"values": NAMES + NEW_NAMES},
        },
        "parameters": {
            "path.name": {"dictionary": "names", "probability": 0.5},
            "body.name": {"dictionary": "body-names", "probability": 0.5},
            "query.team": {"dictionary": "teams", "probability": 0.5},
            # ensure-ready polls until its timeout: never let it wait.
            "query.timeout": 0,
        },
    }
)


def served_schema() -> tuple[dict, list[str]]:
    """The document ``/api/v1/schema/`` serves, asked of its view (no Host check at import time),
    and what drf-spectacular warned of while generating it."""
    GENERATOR_STATS.reset()
    request = APIRequestFactory().get(SCHEMA_PATH, {"format": "json"})
    response = resolve(SCHEMA_PATH).func(request)
    return json.loads(response.render().content), [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]


SERVED, GENERATION_WARNINGS = served_schema()
schema = schemathesis.openapi.from_dict(SERVED, config=CONFIG)
APP = WSGIHandler()
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# What a worker reads and writes about itself; the rest refuses it (403/404), which is no news.
WORKER_OPERATIONS = [
    "heartbeats_create",
    "status",
    "version",
    "workers_retrieve",
    "workers_status_retrieve",
    "workers_ready_create",
    "workspace_files_list",
    "workspace_files_retrieve",
    "workspace_files_update",
]


@pytest.fixture
def in_process(world) -> Iterator[None]:
    """Keep the test's connection across requests, as Django's test client does: the WSGI handler
    would otherwise close it at the end of each request, inside the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def bearer(persona: str) -> dict[str, str]:
    identity, subject, team = PERSONAS[persona]
    _, clear = AgentToken.mint(identity, subject, team=team)
    return {"Authorization": f"Bearer {clear}"}


@pytest.fixture
def admin_headers(in_process) -> dict[str, str]:
    return bearer("admin")


@pytest.fixture
def worker_headers(in_process) -> dict[str, str]:
    return bearer("worker-a")


def call(case, headers: dict[str, str]) -> None:
    # testserver is in ALLOWED_HOSTS under pytest-django whatever the environment says.
    case.call_and_validate(app=APP, base_url="http://testserver", headers=headers, checks=CHECKS)


# The examples of one operation share its test's world and token on purpose: what one example
# changes (a delete, an apply) is state the next one meets, and all of it is rolled back after.
shared_world = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_the_served_schema_is_valid_openapi():
    validate_schema(SERVED)


def test_the_schema_generates_without_warnings():
    assert GENERATION_WARNINGS == []


def test_the_worker_operations_are_in_the_schema():
    served = {operation["operationId"] for path in SERVED["paths"].values() for operation in path.values()}
    assert set(WORKER_OPERATIONS) <= served


@schema.parametrize()
@shared_world
def test_every_answer_to_an_admin_is_as_documented(case, admin_headers):
    call(case, admin_headers)


@schema.include(operation_id=WORKER_OPERATIONS).parametrize()
@shared_world
def test_every_answer_to_a_worker_is_as_documented(case, worker_headers):
    call(case, worker_headers)
