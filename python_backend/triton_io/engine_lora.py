"""The CPU engine model's LoRA adapters: names from the adapter directory, loaded on first use.

A request names its adapter with the input lora_name (read into SamplingParams.lora_name by
fan_out.py). Before its sequences are queued, `prepare` makes every name it uses servable:
- the name must be in the adapter directory (contract/adapter_dir.py) now: an adapter removed from
  the directory is unknown to new requests (UnknownAdapterError → NOT_FOUND), while the requests
  already running with it finish (the engine holds its weights until they do, then it is unloaded);
- it is loaded with engine.load_adapter on first use, and again when AdapterDirectory.version
  changed (the weights were rewritten). While requests still run the older version the engine
  refuses the reload (AdapterInUseError): they, and new requests until they are done, keep the
  version loaded; the next request after that loads the new one.
- an adapter the engine cannot serve (rank above max_lora_rank, a target module or base model the
  export lacks) is an AdapterError naming the adapter and what does not fit (INVALID_ARG).
With the parameter lora_dir empty LoRA is off and lora_name is refused by name.

tensorrtllm_backend's clients send an adapter as lora_task_id and, the first time, lora_weights /
lora_config (TensorRT-LLM's converter format): `prepare` registers those as adapter "task-<id>"
(trtllm_lora.from_trtllm, loaded with engine.load_adapter_arrays), keeps the first weights
of an id as the backend's PEFT cache does (docs/upstream/lora.md §1.3: resent weights for a cached id
are ignored), and answers an id without weights that it does not hold with the backend's own
cache-miss message, on which those clients resend the weights. At most HELD_TASKS ids are held; the
least recently used one that no request runs is dropped for a new one (the backend's host cache is
bounded too: a dropped id is a cache miss again).

Runs on Triton's execute thread (the only caller); the engine's own lock guards its adapter table.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from ..contract.adapter_dir import AdapterDirectory
from ..contract.errors import InputError, UnknownAdapterError
from ..contract.trtllm_backend.lora import CACHE_MISS
from ..engine.lora import AdapterInUseError
from ..engine.lora_weights import AdapterError
from . import logs
from .fan_out import Item, task_name
from .trtllm_lora import from_trtllm

HELD_TASKS = 64


class TaskNotCachedError(RuntimeError):
    """A lora_task_id without weights that this engine does not hold; the backend's message."""


log = logging.getLogger("triton_llm.engine")


class EngineAdapters:
    def __init__(self, engine, lora_dir: str):
        """engine: an LLMEngine (load_adapter / unload_adapter); lora_dir "" = LoRA off."""
        self.engine = engine
        self.directory = AdapterDirectory(lora_dir) if lora_dir else None
        self.loaded: dict[str, tuple[int, int]] = {}  # name → the directory version the engine holds
        self.tasks: OrderedDict[int, None] = OrderedDict()  # task ids held, least recently used first

    @staticmethod
    def names(items: list[Item]) -> list[str]:
        """The adapter names (by lora_name) a request's sequences use, each once, in order."""
        names = [p.lora_name for item in items if item.lora_task_id is None for p in item.sequences]
        return list(dict.fromkeys(name for name in names if name))

    def prepare(self, items: list[Item]) -> None:
        """Load (or reload) every adapter the request names; raises UnknownAdapterError, AdapterError
        (ValueError: INVALID_ARG), InputError or TaskNotCachedError, each naming the adapter."""
        for item in items:
            if item.lora_task_id is not None:
                self._task(item)
        for name in self.names(items):
            if self.directory is None:
                raise InputError(
                    "lora_name: LoRA is off in this engine model (its parameter lora_dir, the adapter "
                    "directory, is empty)"
                )
            try:
                version = self.directory.version(name)
            except UnknownAdapterError:
                self._forget(name)
                raise
            if self.loaded.get(name) != version:
                self._load(name, version)

    def _task(self, item: Item) -> None:
        task_id = item.lora_task_id
        if self.directory is None:
            raise InputError(
                "lora_task_id: LoRA is off in this engine model (its parameter lora_dir is empty)"
            )
        if task_id in self.tasks:  # held: resent weights are ignored, as the backend's cache does
            self.tasks.move_to_end(task_id)
            return
        if item.lora_upload is None:
            raise TaskNotCachedError(CACHE_MISS.format(task_id=task_id))
        table = self.engine.runner.adapters
        name = task_name(task_id)
        self.engine.load_adapter_arrays(from_trtllm(name, item.lora_upload, table.spec, table.max_lora_rank))
        self.tasks[task_id] = None
        self._drop_old_tasks()

    def _drop_old_tasks(self) -> None:
        for task_id in list(self.tasks)[: max(0, len(self.tasks) - HELD_TASKS)]:
            try:
                self.engine.unload_adapter(task_name(task_id))
            except AdapterInUseError:
                continue
            del self.tasks[task_id]

    def _load(self, name: str, version: tuple[int, int]) -> None:
        try:
            self.engine.load_adapter(name, self.directory.path(name))
        except AdapterInUseError:  # a rewrite while the older version runs: keep serving that one
            logs.event(log, "lora_reload_deferred", adapter=name, reason="in use")
            return
        except AdapterError as exc:
            raise AdapterError(f"lora_name: {exc}") from None
        self.loaded[name] = version
        logs.event(log, "lora_loaded", adapter=name)

    def _forget(self, name: str) -> None:
        """Unload an adapter gone from the directory once no request runs it (retried on each request
        naming it until then)."""
        if name not in self.loaded:
            return
        try:
            self.engine.unload_adapter(name)
        except AdapterInUseError:
            return  # draining: the running requests finish with it
        del self.loaded[name]
        logs.event(log, "lora_unloaded", adapter=name)
