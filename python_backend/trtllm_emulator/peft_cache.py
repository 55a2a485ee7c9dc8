"""The backend's PEFT cache over the CPU engine's adapters: lora_task_id / lora_weights / lora_config.

What the executor does with a request's LoRA inputs (contract/trtllm_backend/lora.py, with sources):
  - the tensors are checked as loraValidateRequestTensors does (both or neither of weights and
    config, rows alike, layer in range, module built into the engine, rank within max_lora_rank,
    rows long enough), each failure the backend's message;
  - a task id's weights are stored the first time they arrive, and ignored while it is cached;
  - an id without weights that is not cached fails with the cache-miss message;
  - room is made by evicting the least recently done task with no request in flight; with none to
    evict the request fails with "PEFT Cache is full …".
The cache is sized in bytes from lora_cache_host_memory_bytes: a task takes its rows' values at the
engine's 2-byte LoRA dtype (fp16), r·(in+out) per row, as the backend's pages hold them (the pages'
rounding aside). A stored task becomes the CPU engine's adapter "task-<id>" (trtllm_lora.from_trtllm,
LLMEngine.load_adapter_arrays); an evicted one is unloaded from it.
All calls run under one lock: execute threads resolve, the engine thread marks tasks done.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract.trtllm_backend import lora as bl
from ..engine.lora import AdapterInUseError
from ..engine.lora_weights import LoraSpec
from ..engine.sequence import SamplingParams
from ..triton_io.trtllm_lora import TRTLLM_MODULES, TrtllmLora, from_trtllm, squeeze_request
from .executor_requests import LoraInput

log = logging.getLogger("triton_llm.trtllm_emulator")
PREFETCH_SKIPPED = "lora task name %s is invalid, skipping"  # prefetchLoraWeights
VALUE_BYTES = 2  # the engine dtype the template's TYPE_FP16 lora_weights stands for


NO_LORA_PLUGIN = (
    "lora_task_id {task_id}: this engine was built without the LoRA plugin (the emulator's words: the "
    "backend's answer was not read)"
)


class LoraRequestError(ValueError):
    """The executor answers the request with this message (final, INTERNAL, before any token)."""


@dataclass(frozen=True, kw_only=True)
class LoraEngine:
    """What the engine was built with (config.json) and the cache sizes (the lora_cache_* parameters)."""

    max_lora_rank: int
    target_modules: tuple[str, ...]  # TensorRT-LLM names, e.g. attn_q
    host_cache_bytes: int
    max_adapter_size: int  # lora_cache_max_adapter_size, clamped to max_lora_rank
    prefetch_dir: str | None = None  # lora_prefetch_dir: tasks put into the cache at start-up

    def max_adapter_bytes(self, spec: LoraSpec) -> int:
        """One adapter of max_adapter_size over every enabled module and layer."""
        enabled = [peft for peft, name in TRTLLM_MODULES.items() if name in self.target_modules]
        width = sum(sum(spec.modules[m]) for m in enabled if m in spec.modules)
        return self.max_adapter_size * width * spec.num_layers * VALUE_BYTES


def adapter_name(task_id: int) -> str:
    return f"task-{task_id}"


def with_adapter(cache: PeftCache | None, lora: LoraInput | None, params: SamplingParams):
    """(params, task id): the request's params naming its task's engine adapter, and the task id
    now counted in flight (None without lora_task_id: the base model, weights or not)."""
    if lora is None:
        return params, None
    if cache is None:
        raise LoraRequestError(NO_LORA_PLUGIN.format(task_id=lora.task_id))
    name = cache.begin(lora.task_id, lora.weights, lora.config)
    return dataclasses.replace(params, lora_name=name), lora.task_id


class PeftCache:
    def __init__(self, lora: LoraEngine, spec: LoraSpec, engine):
        self.lora = lora
        self.spec = spec
        self.engine = engine
        self._lock = threading.Lock()
        self._bytes: dict[int, int] = {}  # cached task → its size
        self._active: Counter[int] = Counter()  # task → requests in flight
        self._done: OrderedDict[int, None] = OrderedDict()  # most recently done first
        self._unload_later: set[int] = set()  # evicted while the engine still finished a row
        self.evictions = 0

    def begin(self, task_id: int, weights: np.ndarray | None, config: np.ndarray | None) -> str:
        """The engine adapter a request of `task_id` runs with; counts the request as in flight
        until `done`. LoraRequestError: the backend's answer instead."""
        if (weights is None) != (config is None):
            raise LoraRequestError(bl.WEIGHTS_WITHOUT_CONFIG)
        lora = squeeze_request(weights, config) if weights is not None else None
        if lora is not None:
            self._validate(lora)
        with self._lock:
            self._retry_unloads()
            if task_id not in self._bytes:
                if lora is None:
                    raise LoraRequestError(bl.CACHE_MISS.format(task_id=task_id))
                self._store(task_id, lora)
            self._done.pop(task_id, None)
            self._active[task_id] += 1
        return adapter_name(task_id)

    def done(self, task_id: int) -> None:
        """A request of `task_id` finished: with none left in flight the task is done (evictable)."""
        with self._lock:
            self._active[task_id] -= 1
            if self._active[task_id] <= 0:
                del self._active[task_id]
                if task_id in self._bytes:
                    self._done[task_id] = None
                    self._done.move_to_end(task_id, last=False)

    def prefetch(self, directory: str | Path) -> list[int]:
        """lora_prefetch_dir at start-up (PeftCacheManager::prefetchLoraWeights): every sub-directory
        named by digits is put into the cache under that id from its model.lora_weights.npy /
        model.lora_config.npy (the converter's files); other names are skipped with the backend's
        warning, a missing directory is no error. Returns the ids stored."""
        directory = Path(directory)
        stored = []
        for path in sorted(directory.iterdir()) if directory.is_dir() else ():
            if not path.name.isdigit():
                log.warning(PREFETCH_SKIPPED, path.name)
                continue
            weights = np.load(path / "model.lora_weights.npy")
            config = np.load(path / "model.lora_config.npy")
            self.begin(int(path.name), weights, config)
            self.done(int(path.name))
            stored.append(int(path.name))
        return stored

    def cached(self) -> list[int]:
        with self._lock:
            return sorted(self._bytes)

    # -- inside the lock ----------------------------------------------------------------------------
    def _store(self, task_id: int, lora: TrtllmLora) -> None:
        size = int(lora.config[:, 2].astype(np.int64) @ self._row_widths(lora.config)) * VALUE_BYTES
        while sum(self._bytes.values()) + size > self.lora.host_cache_bytes:
            if not self._done:
                raise LoraRequestError(bl.CACHE_FULL.format(task_id=task_id))
            victim, _ = self._done.popitem(last=True)  # the back: least recently done
            self._evict(victim)
        adapter = from_trtllm(adapter_name(task_id), lora, self.spec, self.lora.max_lora_rank)
        self.engine.load_adapter_arrays(adapter)
        self._bytes[task_id] = size

    def _evict(self, task_id: int) -> None:
        del self._bytes[task_id]
        self.evictions += 1
        try:
            self.engine.unload_adapter(adapter_name(task_id))
        except AdapterInUseError:  # the engine releases a finished row a moment after reporting it
            self._unload_later.add(task_id)

    def _retry_unloads(self) -> None:
        for task_id in list(self._unload_later):
            if task_id in self._bytes:  # stored again meanwhile: it stays
                self._unload_later.discard(task_id)
                continue
            try:
                self.engine.unload_adapter(adapter_name(task_id))
                self._unload_later.discard(task_id)
            except AdapterInUseError:
                pass

    def _row_widths(self, config: np.ndarray) -> np.ndarray:
        """in + out of each config row's module."""
        names = {bl.MODULE_IDS[name]: peft for peft, name in TRTLLM_MODULES.items()}
        return np.asarray([sum(self.spec.modules[names[int(m)]]) for m in config[:, 0]], np.int64)

    # -- loraValidateRequestTensors -----------------------------------------------------------------
    def _validate(self, lora: TrtllmLora) -> None:
        weights, config = lora.weights, lora.config
        if weights.shape[0] != config.shape[0]:
            raise LoraRequestError(bl.ROWS_DIFFER)
        for row, (module_id, layer, size) in zip(weights, config[:, :3].tolist(), strict=True):
            if not 0 <= layer < self.spec.num_layers:
                raise LoraRequestError(bl.LAYER_OUT_OF_RANGE)
            if size <= 0:
                raise LoraRequestError(bl.ADAPTER_SIZE_NOT_POSITIVE)
            module = bl.MODULE_NAMES.get(module_id, str(module_id))
            if module not in self.lora.target_modules:
                raise LoraRequestError(bl.MODULE_NOT_ENABLED.format(module=module))
            if size > self.lora.max_lora_rank:
                raise LoraRequestError(bl.RANK_ABOVE_MAX.format(rank=size, max_rank=self.lora.max_lora_rank))
            peft = next(p for p, name in TRTLLM_MODULES.items() if name == module)
            if row.shape[0] < size * sum(self.spec.modules[peft]):
                raise LoraRequestError(bl.ROW_TOO_SHORT.format(module=module))
