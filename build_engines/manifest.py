"""The manifest written beside every artifact: what it is, what it came from, what built it."""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path

MANIFEST_NAME = "manifest.json"


def tool_versions(packages: tuple[str, ...]) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def write(directory: Path, **fields) -> Path:
    data = {"created_unix": int(time.time()), **fields}
    path = directory / MANIFEST_NAME
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read(directory: Path) -> dict:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no {MANIFEST_NAME} (not built by build_engines?)")
    return json.loads(path.read_text())
