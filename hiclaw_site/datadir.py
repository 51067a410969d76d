"""The embedded data directory (``HICLAW_DATA_DIR``): checked before use, private when made.

Importing the settings creates nothing, so a command pointed at the wrong
directory says so in one line and leaves no trace. The commands that set up a
store (``hiclaw_run``, ``migrate``) call ``prepare()``, which makes the
directory (mode 0700), the signing key and the database file (0600); every
other command that needs the store calls ``require_store()`` first. Both raise
``DataDirError`` with a message naming ``HICLAW_DATA_DIR`` and what to do.
"""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
import tempfile
from pathlib import Path

from django.conf import settings

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600

# Commands that set up the store, and commands that never touch it.
SETUP_COMMANDS = frozenset({"hiclaw_run", "migrate"})
STORELESS_COMMANDS = frozenset(
    {"help", "version", "check", "makemigrations", "diffsettings", "collectstatic", "findstatic", "sendtestemail"}
)


class DataDirError(Exception):
    """The data directory cannot serve; the message is one line for a person."""


def _where() -> str:
    return f"HICLAW_DATA_DIR={settings.DATA_DIR}"


def _embedded_database() -> Path | None:
    """The SQLite file when the embedded database is in use, else None."""
    db = settings.DATABASES["default"]
    return Path(db["NAME"]) if db["ENGINE"] == "django.db.backends.sqlite3" else None


def prepare() -> None:
    """Make the data directory ready to serve: created private, writable, its database sound."""
    data_dir: Path = settings.DATA_DIR
    if data_dir.exists() and not data_dir.is_dir():
        raise DataDirError(f"{_where()} is a file, not a directory: point HICLAW_DATA_DIR at a directory")
    try:
        data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        data_dir.chmod(PRIVATE_DIR)
        _probe_write(data_dir)
        _ensure_secret_key()
        if settings.EMBEDDED:
            for folder in (settings.BROKER_DIR, settings.BROKER_DIR / "control"):
                folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        database = _embedded_database()
        if database is not None:
            _prepare_database(database)
    except OSError as exc:
        problem = f"{_where()} cannot be written ({_reason(exc)})"
        raise DataDirError(f"{problem}: fix its permissions or choose another directory") from exc


def require_store() -> None:
    """Refuse, in one line, to run a command against a store that was never set up."""
    if settings.SECRET_KEY_EPHEMERAL and not settings.EMBEDDED:
        raise DataDirError(
            f"DJANGO_SECRET_KEY is not set and {_where()} holds no secret_key: set DJANGO_SECRET_KEY "
            "(every process of one controller needs the same key) or run `manage.py migrate` there once"
        )
    database = _embedded_database()
    if database is not None and not database.is_file():
        raise DataDirError(
            f"no controller database in {_where()}: start the controller there first (`make run`), "
            "or set HICLAW_DATA_DIR to the directory the running controller uses"
        )


def preflight(argv: list[str]) -> None:
    """What ``manage.py`` checks before running the command named in ``argv``."""
    command = argv[1] if len(argv) > 1 else "help"
    if command.startswith("-") or command in STORELESS_COMMANDS:
        return
    if command in SETUP_COMMANDS:
        prepare()
    else:
        require_store()


def _probe_write(data_dir: Path) -> None:
    # os.access() says yes to root whatever the mode; a real write is the only honest test.
    with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".write-probe-"):
        pass


def _ensure_secret_key() -> None:
    """Keep a generated signing key in the data dir, unless one is configured."""
    if not settings.SECRET_KEY_EPHEMERAL:
        return
    key_file: Path = settings.SECRET_KEY_FILE
    key = secrets.token_urlsafe(50)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    settings.SECRET_KEY = key
    settings.SECRET_KEY_EPHEMERAL = False


def _prepare_database(database: Path) -> None:
    """Create the SQLite file 0600 (SQLite gives its journal files the same mode) and check it."""
    if not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
        return
    for path in (database, *database.parent.glob(database.name + "-*")):
        path.chmod(PRIVATE_FILE)
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    finally:
        connection.close()
    if verdict != "ok":
        raise DataDirError(
            f"{database.name} in {_where()} is not a usable database ({verdict}): "
            "restore it from a backup, or move it aside to start with an empty one"
        )


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC) else str(exc)
