"""Session fixture for Docker: a real engine, a test image made without a registry, cleanup by label.

The image ``hiclaw-test/busybox:latest`` is imported from a tarball of a tiny
root filesystem holding Debian's static busybox; its command prints a line and
sleeps, or exits with ``$HICLAW_TEST_EXIT`` when that is set. Each session
labels what it creates with its own controller id, so concurrent runs never
touch each other's containers.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TEST_IMAGE = "hiclaw-test/busybox:latest"
TEST_IMAGE_COMMAND = (
    'CMD ["/bin/sh", "-c", "echo hello from $HOSTNAME; '
    '[ -z \\"$HICLAW_TEST_EXIT\\" ] || exit \\"$HICLAW_TEST_EXIT\\"; exec sleep 3600"]'
)
SESSION_LABEL = "hiclaw-test/session"
START_HINT = "run `scripts/test-services.sh docker` as root (installs docker.io and busybox-static, starts dockerd)"


@dataclass(frozen=True)
class DockerService:
    client: object  # docker.DockerClient
    image: str
    controller_id: str  # our instances carry hiclaw.io/controller=<this>
    network: str
    session_labels: dict[str, str]  # put on containers a test makes by hand, so cleanup finds them


@pytest.fixture(scope="session")
def docker_service() -> Iterator[DockerService]:
    import docker

    try:
        client = docker.from_env(version="auto", timeout=30)
        client.ping()
    except Exception as exc:
        pytest.fail(f"the Docker Engine is not answering ({exc}): {START_HINT}", pytrace=False)
    if not client.images.list(name=TEST_IMAGE):
        _import_test_image(client)
    controller_id = f"hiclaw-test-{uuid.uuid4().hex[:8]}"
    service = DockerService(
        client=client,
        image=TEST_IMAGE,
        controller_id=controller_id,
        network=f"{controller_id}-net",
        session_labels={SESSION_LABEL: controller_id},
    )
    try:
        yield service
    finally:
        _clean_up(service)
        client.close()


def _import_test_image(client) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail(f"busybox is not installed: {START_HINT}", pytrace=False)
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    client.api.import_image_from_data(
        _rootfs_tarball(Path(busybox), applets),
        repository=TEST_IMAGE.split(":")[0],
        tag=TEST_IMAGE.split(":")[1],
        changes=[TEST_IMAGE_COMMAND],
    )


def _rootfs_tarball(busybox: Path, applets: list[str]) -> bytes:
    """bin/busybox plus a relative symlink per applet (what `busybox --install -s` would make)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory, mode in [("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)]:
            entry = tarfile.TarInfo(directory)
            entry.type, entry.mode = tarfile.DIRTYPE, mode
            tar.addfile(entry)
        tar.add(busybox, arcname="bin/busybox")
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        entry = tarfile.TarInfo("etc/passwd")
        entry.size, entry.mode = len(passwd), 0o644
        tar.addfile(entry, io.BytesIO(passwd))
        for applet in applets:
            if applet != "busybox":
                entry = tarfile.TarInfo(f"bin/{applet}")
                entry.type, entry.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(entry)
    return buffer.getvalue()


def _clean_up(service: DockerService) -> None:
    from docker.errors import NotFound

    labels = [f"hiclaw.io/controller={service.controller_id}", f"{SESSION_LABEL}={service.controller_id}"]
    for label in labels:
        for container in service.client.containers.list(all=True, filters={"label": label}, ignore_removed=True):
            with contextlib.suppress(NotFound):
                container.remove(force=True)
    with contextlib.suppress(NotFound):
        service.client.networks.get(service.network).remove()
