"""Shared fixtures: example manifests, an apply helper, eager Celery on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.connections import default_connections
from controller.services import heartbeat_rate
from controller.services.apply import Outcome, apply_text
from hiclaw_site.celery import app as celery_app

pytest_plugins = [
    "tests.services.synapse",
    "tests.services.moto",
    "tests.services.docker",
    "tests.services.world",
    "tests.services.kube",
    "tests.services.crd_door",
]

# Tasks queued by tests stay in this process; nothing is left behind in the
# data dir or a Redis for a later run to pick up.
celery_app.conf.broker_url = "memory://localhost/"

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"

# Fixtures that start or reach something outside this process: Synapse, the S3
# server, the Docker Engine, Redis, the Kubernetes API server, a served controller (a browser or a `hiclaw`
# subprocess talks to it), the controller's container image (built with Docker). A test using any of
# them, directly or through another fixture, is marked slow and left out of `make test-fast`.
SERVICE_FIXTURES = frozenset(
    {
        "synapse",
        "moto_server",
        "docker_service",
        "redis",
        "asgi_server",
        "live_server",
        "dashboard",
        "kube",
        "controller_image",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _static_files_only_where_served(request, settings):
    """Django's test client builds the middleware stack anew for every client, and ServeStatic
    lists every static file each time: half the fast tier's time. Only tests that serve the
    controller to a browser or a subprocess (the slow ones) fetch static files, so only they
    keep it; the dashboard's scripts and styles are exercised there."""
    if request.node.get_closest_marker("slow") is None:
        settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if not name.startswith("servestatic.")]


@pytest.fixture(autouse=True)
def _no_heartbeats_counted():
    """Embedded mode counts each agent's heartbeats in this process's memory: a test's agents
    start with none counted, whatever earlier tests with the same names posted."""
    heartbeat_rate.local.reset()


@pytest.fixture(autouse=True)
def embedded_services(settings, tmp_path):
    """Reconciles in tests run embedded-style in a temp dir: process backend, file storage,
    no Matrix, no gateway. Tests of real services build their own ``Connections``."""
    settings.DATA_DIR = tmp_path / "data"
    settings.HICLAW_BACKEND = "process"
    settings.HICLAW_STORAGE_URL = f"file://{tmp_path / 'storage'}"
    settings.HICLAW_MATRIX_URL = ""
    settings.HICLAW_GATEWAY_URL = ""
    # Nothing listens there: reference workers started by a test keep retrying quietly.
    settings.HICLAW_CONTROLLER_URL = "http://127.0.0.1:9"
    default_connections.cache_clear()
    yield
    if default_connections.cache_info().currsize:
        backend = default_connections().backend
        for instance in backend.list():
            backend.delete(instance.name)
    default_connections.cache_clear()


@pytest.fixture
def eager_celery():
    """Run queued tasks inline, so the effect of a reconcile can be observed."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def apply(db, django_capture_on_commit_callbacks):
    """Apply YAML text; after-commit callbacks (queued reconciles) are captured and returned."""

    def _apply(text: str, **kwargs) -> list[Outcome]:
        with django_capture_on_commit_callbacks() as callbacks:
            outcomes = apply_text(text, **kwargs)
        _apply.callbacks = callbacks
        return outcomes

    return _apply


def example(name: str) -> str:
    return (EXAMPLES / name).read_text()
