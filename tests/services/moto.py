"""Session fixture that runs a real S3 server (moto) on loopback for the storage tests.

moto lives in its own virtualenv (`.venvs/moto`, made by `make test`) so its pins never
constrain the controller's. Tests talk to it with the minio SDK exactly as to MinIO.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers import free_port, wait_until
from tests.services import stop_process

ROOT = Path(__file__).resolve().parents[2]
MOTO_SERVER = ROOT / ".venvs" / "moto" / "bin" / "moto_server"
STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class MotoEndpoint:
    """Where the test S3 server listens and the credentials to use (moto accepts any)."""

    host: str
    port: int
    access_key: str = "hiclaw-test-key"
    secret_key: str = "hiclaw-test-secret"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def storage_url(self, bucket: str) -> str:
        """A HICLAW_STORAGE_URL for `bucket` on this server."""
        key, secret = quote(self.access_key, safe=""), quote(self.secret_key, safe="")
        return f"s3://{key}:{secret}@{self.host}:{self.port}/{bucket}?secure=false"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoEndpoint]:
    """Start `moto_server` once per test session and stop it at the end."""
    if not MOTO_SERVER.exists():
        pytest.fail(f"{MOTO_SERVER} is missing: run `make test`, which installs tests/requirements-moto.txt")
    process, endpoint = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield endpoint
    finally:
        stop_process(process)


def start_moto(log_path: Path) -> tuple[subprocess.Popen, MotoEndpoint]:
    """Start `moto_server` on a free loopback port, logging to ``log_path``; the caller stops it.
    Shared by the session fixture and the full-path benchmark (bench/)."""
    endpoint = MotoEndpoint(host="127.0.0.1", port=free_port())
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", endpoint.host, "-p", str(endpoint.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def still_running() -> None:
        if proc.poll() is not None:
            pytest.fail(f"moto_server exited with {proc.returncode}; its log:\n{log_path.read_text()[-2000:]}")

    try:
        wait_until(
            lambda: _answers(endpoint.url),
            STARTUP_TIMEOUT,
            f"moto_server to answer on {endpoint.url}",
            check=still_running,
            details=lambda: f"its log:\n{log_path.read_text()[-2000:]}",
        )
    except BaseException:
        stop_process(proc)
        raise
    return proc, endpoint


@pytest.fixture
def s3_storage_url(moto_server: MotoEndpoint) -> str:
    """A storage URL on the test S3 server with a bucket name no other test uses."""
    return moto_server.storage_url(f"test-{uuid.uuid4().hex[:16]}")
