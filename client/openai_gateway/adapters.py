"""The models a request may name: the base model and every LoRA adapter in the adapter directory.

The adapter directory (LORA_DIR, python_backend/contract/adapter_dir.py) is the registry every
replica reads, so it is read again on every request and every /v1/models: an adapter written there
(or registered by /v1/load_lora_adapter, lora_admin.py) is served at once, one removed is unknown
at once, on every gateway that mounts the directory.

As vLLM serves them (docs/upstream/lora.md §4.1-4.2): `"model": "<adapter name>"` chooses the
adapter (the ensemble's lora_name), the base model's name means no adapter, and /v1/models lists
each adapter with `parent` = the base model and `root` = its directory.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from python_backend.contract.adapter_dir import CONFIG_FILE, AdapterDirectory
from python_backend.contract.errors import InputError

from .errors import model_not_found

OWNER = "triton-llm"


@dataclass(frozen=True)
class ServedModels:
    names: tuple[str, ...]  # the base model's names a request may use, the listed (served) one first
    lora_dir: Path | None = None  # the adapter directory; None: no adapters

    @property
    def base(self) -> str:
        return self.names[0]

    @property
    def directory(self) -> AdapterDirectory | None:
        return None if self.lora_dir is None else AdapterDirectory(self.lora_dir)

    def adapters(self) -> list[str]:
        """The adapters served now, sorted (a sub-directory named like the base model is not one)."""
        directory = self.directory
        return [] if directory is None else [n for n in directory.names() if n not in self.names]

    def adapter_of(self, name: str) -> str | None:
        """The lora_name a request for model `name` sends: None for the base model, the adapter's name
        for an adapter; anything else is 404 naming it (param "model", code "model_not_found")."""
        if name in self.names:
            return None
        if self._adapter_path(name) is not None:
            return name
        raise model_not_found(name, self.base)

    def cards(self, created: int) -> list[dict]:
        """/v1/models: the base model, then every adapter."""
        return [self.card(self.base, created)] + [self.card(name, created) for name in self.adapters()]

    def card(self, name: str, created: int) -> dict:
        """/v1/models/{name}; 404 for a name that is neither the base model nor an adapter."""
        if name in self.names:
            return {"id": name, "object": "model", "created": created, "owned_by": OWNER, "parent": None}
        path = self._adapter_path(name)
        if path is None:
            raise model_not_found(name, self.base)
        try:  # when the adapter was written: its config's time
            created = int((path / CONFIG_FILE).stat().st_mtime)
        except OSError:
            pass
        return {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": OWNER,
            "root": str(path),
            "parent": self.base,
        }

    def _adapter_path(self, name: str) -> Path | None:
        directory = self.directory
        if directory is None or name in self.names:
            return None
        try:
            return directory.path(name)
        except InputError:  # not a valid name, or not there (UnknownAdapterError)
            return None


class InFlight:
    """This gateway's requests in flight per adapter: /v1/unload_lora_adapter answers 409 while an
    adapter has any (lora_admin.py). A request counts from before it is sent until its answer is
    complete or abandoned."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def count(self, name: str) -> int:
        return self._counts[name]

    @contextlib.contextmanager
    def hold(self, name: str | None):
        """Counts `name` (None: the base model, not counted) for the block."""
        self._enter(name)
        try:
            yield
        finally:
            self._leave(name)

    def stream(self, name: str | None, chunks):
        """`chunks` (a ChunkStream) counted until it is closed: the gateway closes every stream it
        opens, whether the answer completed, failed or its client went away."""
        return _CountedStream(self, name, chunks)

    def _enter(self, name: str | None) -> None:
        if name is not None:
            self._counts[name] += 1

    def _leave(self, name: str | None) -> None:
        if name is not None:
            self._counts[name] -= 1
            if self._counts[name] <= 0:
                del self._counts[name]


class _CountedStream:
    def __init__(self, owner: InFlight, name: str | None, source):
        self._owner = owner
        self._name = name
        self._source = source
        self._open = True
        owner._enter(name)

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._source.__anext__()

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._owner._leave(self._name)
        await self._source.aclose()
