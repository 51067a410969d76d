"""Session fixture running a real Synapse homeserver on a free loopback port.

Synapse lives in its own virtualenv (``.venvs/synapse``, made by ``make test``).
The config is generated once per session, then overridden for tests: SQLite, a
plain-HTTP client listener, no federation, quiet logs, rate limits lifted, and
both registration paths enabled (shared secret, registration token).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from controller.clients.matrix import MatrixClient, MatrixSession
from tests.helpers import free_port, wait_until
from tests.services import stop_process

ROOT = Path(__file__).resolve().parents[2]
SYNAPSE_PYTHON = ROOT / ".venvs" / "synapse" / "bin" / "python"
SERVER_NAME = "hiclaw.test"
START_DEADLINE = 30.0

# High enough that no test meets a 429.
_UNLIMITED = {"per_second": 10000, "burst_count": 10000}
_RATE_LIMITS = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_room_creation": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_third_party_invite": _UNLIMITED,
    "rc_admin_redaction": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
}

_LOG_CONFIG = """\
version: 1
formatters:
  plain: {format: "%(asctime)s %(levelname)s %(name)s: %(message)s"}
handlers:
  file: {class: logging.FileHandler, formatter: plain, filename: "LOG_FILE"}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
"""


@dataclass(frozen=True)
class SynapseServer:
    base_url: str
    server_name: str
    registration_secret: str
    registration_token: str
    admin: MatrixSession

    def client(self, *, use_token: bool = False, timeout: float = 10) -> MatrixClient:
        """A client registering by shared secret, or with ``use_token`` by registration token."""
        if use_token:
            return MatrixClient(
                self.base_url, self.server_name, registration_token=self.registration_token, timeout=timeout
            )
        return MatrixClient(
            self.base_url, self.server_name, registration_secret=self.registration_secret, timeout=timeout
        )


@pytest.fixture(scope="session")
def synapse(tmp_path_factory) -> Iterator[SynapseServer]:
    try:
        process, server = start_synapse(tmp_path_factory.mktemp("synapse"))
    except SynapseNotStarted as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        stop_process(process)


class SynapseNotStarted(RuntimeError):
    """Synapse is not installed, or exited or did not answer while starting (its log tail attached)."""


def start_synapse(workdir: Path, *, bcrypt_rounds: int = 4) -> tuple[subprocess.Popen, SynapseServer]:
    """Start a homeserver in ``workdir`` on a free loopback port; the caller stops the process.

    Shared by the session fixture and the full-path benchmark (bench/), which passes
    Synapse's own default ``bcrypt_rounds`` (12) to time registrations as in production.
    """
    if not SYNAPSE_PYTHON.exists():
        raise SynapseNotStarted(
            f"Synapse is not installed in {SYNAPSE_PYTHON.parent.parent}: run `make test`, which installs it"
        )
    port = free_port()
    shared_secret = secrets.token_hex(16)
    config = _write_config(workdir, port, shared_secret, bcrypt_rounds)
    with (workdir / "stdout.log").open("w") as output:
        process = subprocess.Popen(
            [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "--config-path", str(config)],
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(process, base_url, workdir)
        client = MatrixClient(base_url, SERVER_NAME, registration_secret=shared_secret)
        admin = client.register("admin", secrets.token_urlsafe(16), admin=True)
        response = requests.post(
            f"{base_url}/_synapse/admin/v1/registration_tokens/new",
            json={},
            headers={"Authorization": f"Bearer {admin.access_token}"},
            timeout=10,
        )
        response.raise_for_status()
    except BaseException:
        stop_process(process)
        raise
    return process, SynapseServer(base_url, SERVER_NAME, shared_secret, response.json()["token"], admin)


def _write_config(workdir: Path, port: int, shared_secret: str, bcrypt_rounds: int) -> Path:
    """Generate Synapse's config (keys and secrets), then override what the tests need."""
    config = workdir / "homeserver.yaml"
    subprocess.run(
        [
            str(SYNAPSE_PYTHON),
            "-m",
            "synapse.app.homeserver",
            "--generate-config",
            "--server-name",
            SERVER_NAME,
            "--config-path",
            str(config),
            "--data-directory",
            str(workdir),
            "--report-stats=no",
        ],
        cwd=workdir,
        check=True,
        capture_output=True,
        timeout=60,
    )
    log_config = workdir / "log.yaml"
    log_config.write_text(_LOG_CONFIG.replace("LOG_FILE", str(workdir / "homeserver.log")))
    settings = yaml.safe_load(config.read_text())
    settings.update(
        {
            "listeners": [
                {
                    "port": port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(workdir / "homeserver.db")}},
            "media_store_path": str(workdir / "media_store"),
            "log_config": str(log_config),
            "registration_shared_secret": shared_secret,
            "enable_registration": True,
            "registration_requires_token": True,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "presence": {"enabled": False},
            # Synapse's default 12 costs ~0.2 s per registration and login; tests use 4.
            "bcrypt_rounds": bcrypt_rounds,
            **_RATE_LIMITS,
        }
    )
    config.write_text(yaml.safe_dump(settings))
    return config


def _wait_healthy(process: subprocess.Popen, base_url: str, workdir: Path) -> None:
    def still_running() -> None:
        if process.poll() is not None:
            raise SynapseNotStarted(f"synapse exited with {process.returncode} while starting:\n{_tail(workdir)}")

    def healthy() -> bool:
        try:
            return requests.get(f"{base_url}/health", timeout=1).ok
        except requests.ConnectionError:
            return False

    wait_until(
        healthy, START_DEADLINE, "synapse to answer /health", check=still_running, details=lambda: _tail(workdir)
    )


def _tail(workdir: Path) -> str:
    return "\n".join(
        (workdir / name).read_text()[-3000:] for name in ("stdout.log", "homeserver.log") if (workdir / name).exists()
    )
