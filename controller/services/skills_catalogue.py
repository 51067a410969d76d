"""The built-in skills catalogue: what a config/skills push copies into workers' workspaces.

Built-in skills ship as data in ``controller/skills/<skill>/`` (a SKILL.md and
small standard-library scripts). ``debug-analysis`` is there too but is not
part of the catalogue: it is the DebugWorker's own skill, written by that
reconciler beside the debug instance, never into a worker's workspace.

The catalogue's version is a content hash: sha256 over every file's path
(``<skill>/<path inside it>``, sorted) and bytes, first 12 hex digits,
prefixed ``c-`` (e.g. ``c-3f2a9b0c1d4e``). The same files always give the
same version; any change gives a new one. (Not ``sk-``: redaction takes that
for an API key.)

Published copies live in storage under ``system/skills/<version>/<skill>/...``;
the version's marker object is written last, so a published version is
complete, and publishing it again writes nothing. ``system/versions.json``
records what is current: ``builtinSkillsVersion``, ``workerConfigVersion``
and ``perWorkerVersions`` (``{worker: {skills, config, pushedAt}}``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from controller.clients.storage import ObjectNotFound, Storage

SKILLS_DIR = Path(__file__).resolve().parents[1] / "skills"
NOT_FOR_WORKERS = frozenset({"debug-analysis"})  # the DebugWorker's own skill
PREFIX = "system/skills/"
VERSIONS_KEY = "system/versions.json"
MARKER = ".published"
_versions_guard = threading.Lock()


def catalogue_files(skills_dir: Path = SKILLS_DIR) -> dict[str, bytes]:
    """``<skill>/<path>`` -> bytes for every built-in worker skill (caches excluded)."""
    files = {}
    for skill in sorted(p for p in skills_dir.iterdir() if p.is_dir() and p.name not in NOT_FOR_WORKERS):
        for path in sorted(skill.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[path.relative_to(skills_dir).as_posix()] = path.read_bytes()
    return files


def skill_names(files: dict[str, bytes]) -> set[str]:
    return {path.split("/", 1)[0] for path in files}


def catalogue_version(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path] + b"\0")
    return "c-" + digest.hexdigest()[:12]


def publish(storage: Storage, files: dict[str, bytes] | None = None) -> tuple[str, bool]:
    """Publish the catalogue under its version; return (version, whether anything was written).

    A version whose marker exists is complete (the marker is written last), so
    it is left alone; ``versions.json`` then names it as current.
    """
    files = catalogue_files() if files is None else files
    version = catalogue_version(files)
    marker = f"{PREFIX}{version}/{MARKER}"
    if storage.exists(marker):
        return version, False
    for path, content in files.items():
        storage.put(f"{PREFIX}{version}/{path}", content)
    storage.put(marker, json.dumps({"version": version, "files": len(files)}).encode(), "application/json")
    update_versions(storage, builtinSkillsVersion=version)
    return version, True


def read_versions(storage: Storage) -> dict[str, Any]:
    try:
        data = json.loads(storage.get(VERSIONS_KEY))
    except (ObjectNotFound, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    data.setdefault("builtinSkillsVersion", "")
    data.setdefault("workerConfigVersion", "")
    data.setdefault("perWorkerVersions", {})
    return data


def update_versions(storage: Storage, *, worker: str = "", entry: dict[str, str] | None = None, **top: str) -> None:
    """Read-modify-write ``versions.json``: top-level keys and one worker's entry.

    Writes nothing when nothing changes. Callers that run concurrently across
    processes (pushes) hold the ``system-versions`` resource lock around this.
    """
    with _versions_guard:
        data = read_versions(storage)
        before = json.dumps(data, sort_keys=True, indent=2)
        data.update(top)
        if worker and entry is not None:
            data["perWorkerVersions"][worker] = entry
        after = json.dumps(data, sort_keys=True, indent=2)
        if after != before:
            storage.put(VERSIONS_KEY, after.encode(), "application/json")
