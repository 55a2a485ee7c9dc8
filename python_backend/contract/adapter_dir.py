"""The adapter directory (LORA_DIR): where every replica finds the LoRA adapters it may serve.

One PEFT LoRA adapter per sub-directory (adapter_config.json + adapter_model.safetensors), named by
the sub-directory: `<root>/<name>/`. The directory is the one source of truth every part reads — the
engine models load an adapter on its first request by name, the OpenAI gateway lists them in
/v1/models and its /v1/load_lora_adapter writes a name here, the chart mounts (or syncs) it on every
pod — so a new replica sees every adapter and an adapter removed here is unknown everywhere.

Names: letters, digits, '.', '_', '-' (1-64), never '.' or '..': they become Prometheus label values
joined with commas (vLLM's lora_requests_info) and path components. Standard library only: the Triton
stubs, the gateway and the chart's tooling all read it.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import InputError, UnknownAdapterError

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


def check_name(name: str, field: str = "lora_name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise InputError(
            f"{field}: {name!r} is not an adapter name (1-64 letters, digits, '.', '_', '-'; "
            "not starting with '.' or '-')"
        )
    return name


class AdapterDirectory:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def names(self) -> list[str]:
        """Every adapter here, sorted: sub-directories holding both PEFT files under a valid name."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if _NAME.fullmatch(p.name) and (p / CONFIG_FILE).is_file() and (p / WEIGHTS_FILE).is_file()
        )

    def path(self, name: str) -> Path:
        """The adapter's directory; UnknownAdapterError (naming it) when it is not here."""
        check_name(name)
        path = self.root / name
        if not ((path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()):
            raise UnknownAdapterError(f"lora_name: adapter {name!r} is not in the adapter directory")
        return path

    def version(self, name: str) -> tuple[int, int]:
        """Changes when the adapter's files are rewritten (mtime_ns, size of the weights): an engine
        that holds an older version loads it again instead of serving stale weights."""
        stat = (self.path(name) / WEIGHTS_FILE).stat()
        return stat.st_mtime_ns, stat.st_size

    def inside(self, path: str | Path, field: str = "lora_path") -> Path:
        """`path` resolved, if it lies inside the directory (vLLM gates runtime loading the same way:
        operators choose what may be loaded by choosing this directory); InputError otherwise."""
        resolved = Path(path).resolve()
        root = self.root.resolve()
        if resolved != root and root in resolved.parents:
            return resolved
        raise InputError(f"{field}: {path} is not inside the adapter directory {self.root}")
