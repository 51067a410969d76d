"""Two steps every kind with an instance shares: its files in storage, and its instance on the backend.

Both read the world before changing it, so a second pass over a converged
resource writes nothing; failures become the step's condition (StorageReady,
InstanceReady) through the two error kinds of controller/reconcilers/base.py.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from controller.backends.base import (
    BackendError,
    BackendUnavailable,
    InstanceSpec,
    InstanceState,
    InstanceStatus,
    WorkerBackend,
)
from controller.clients.storage import Storage, StorageError
from controller.models import Resource
from controller.reconcilers.agent_files import files_digest
from controller.reconcilers.base import PermanentError, TemporaryError

# The threads that put files, shared by every pass in the process: starting and joining
# four threads per pass cost more than a put to local storage does. Sixteen lets the
# four files of a few concurrent passes (Celery threads) go out at once.
_PUTS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="hiclaw-put")


def write_files(storage: Storage, prefix: str, files: dict[str, bytes], *, written: str, marker: str) -> str:
    """Write ``files`` under ``prefix`` unless they are what was ``written`` (a digest) and the
    ``marker`` file is still there; return the files' digest to record as written.

    The files go out together, each put in a thread of the process's pool: a put mostly
    waits (an S3 request, a file storage's fsync), and a new agent's first pass waited for
    four in turn.
    Their digest is recorded only once every put succeeded, so a pass cut short writes
    them all again."""
    digest = files_digest(files)
    try:
        if digest != written or not storage.exists(prefix + marker):
            puts = [_PUTS.submit(storage.put, prefix + name, content) for name, content in files.items()]
            for put in puts:
                put.result()  # the first failure is the step's
    except StorageError as error:
        raise TemporaryError("StorageReady", "Unavailable", str(error)) from None
    return digest


def converge_instance(
    backend: WorkerBackend,
    name: str,
    *,
    want_running: bool,
    digest: str,
    recorded_digest: str,
    token_held: Callable[[], bool],
    describe: Callable[[], InstanceSpec],
    before_start: Callable[[InstanceStatus], None] | None = None,
) -> tuple[InstanceStatus, str]:
    """Bring instance ``name`` to running (or stopped); ``describe`` is asked only when one is
    created. An instance made from something else (``digest`` of what it is created from, not
    the ``recorded_digest`` of the one there) or whose API token was revoked (``token_held``,
    asked only when one exists) is replaced: only a new instance can apply either.
    ``before_start`` sees an existing instance that should run and does not before it is
    started again, and may raise to hold that start (a crash loop's backoff,
    controller/reconcilers/crashes.py). Returns its status now and the digest to record."""
    created = acted = False
    try:
        status = backend.status(name)
        exists = status.state != InstanceState.MISSING
        if exists and (recorded_digest not in ("", digest) or not token_held()):
            backend.delete(name)
            exists, acted = False, True
        if not exists:
            if want_running:
                backend.create(describe())
                created = acted = True
        elif want_running and not status.running:
            if before_start is not None:
                before_start(status)
            backend.start(name)
            acted = True
        elif not want_running and status.running:
            backend.stop(name)
            acted = True
        if acted:  # else the status just read is still the answer
            status = backend.status(name)
    except BackendUnavailable as error:
        raise TemporaryError("InstanceReady", "BackendUnavailable", str(error)) from None
    except BackendError as error:
        raise PermanentError("InstanceReady", type(error).__name__, str(error)) from None
    return status, (digest if created else recorded_digest)


def instance_ready(resource: Resource, name: str, status: InstanceStatus, *, want_running: bool = True) -> None:
    """InstanceReady True with the instance's state, or a retry while it should run and does not."""
    if want_running and not status.running:
        raise TemporaryError("InstanceReady", "NotRunning", f"instance {name} is {status.state}: {status.message}")
    resource.set_condition("InstanceReady", "True", str(status.state), name)
