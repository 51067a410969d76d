"""What a worker looks like from outside the database: its backend log tail and generated files.

Both are read-only, bounded reads (for the dashboard's worker page); a backend
or storage that fails (down, or no instance yet) is shown as a message on the
page instead of an error.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime

from controller import naming
from controller.clients.storage import StorageError
from controller.connections import default_connections
from controller.models import Worker

logger = logging.getLogger(__name__)

LOG_LINES = 40
MAX_FILES = 50


@dataclass(frozen=True)
class GeneratedFile:
    name: str
    size: int
    modified: datetime


def log_tail(worker: Worker, tail: int = LOG_LINES) -> tuple[str, str]:
    """(last ``tail`` lines the instance printed, error message)."""
    try:
        return default_connections().backend.logs(worker.current_instance, tail=tail), ""
    except Exception as error:  # no instance yet, or an engine that is down: neither may take the page
        logger.info("worker/%s: no log tail: %s", worker.name, error)
        return "", f"No log: {error}"


def generated_files(worker: Worker) -> tuple[list[GeneratedFile], str]:
    """(files directly under the worker's storage prefix, at most ``MAX_FILES``; error message)."""
    prefix = naming.storage_prefix("worker", worker.name)
    try:
        objects = itertools.islice(default_connections().storage.list(prefix, recursive=False), MAX_FILES)
        return [GeneratedFile(info.key[len(prefix) :], info.size, info.last_modified) for info in objects], ""
    except StorageError as error:
        return [], f"Storage did not answer: {error}"
    except Exception as error:
        logger.warning("worker/%s: listing generated files failed", worker.name, exc_info=True)
        return [], f"Storage did not answer: {error}"
