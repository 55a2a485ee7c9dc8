"""LoRA in the stand-in: LLM(lora_config=LoraConfig(...)) and generate_async(lora_request=LoRARequest(...))
served by the CPU engine's batched LoRA over a LoRA-capable export (python_backend/engine/lora.py,
lora_weights.py: the export's lora.json names the modules it takes).

What upstream does, and what the stand-in does with it:
  - LoRA is on when `lora_config` is set. TensorRT-LLM's worker takes `llm_args.lora_config` on the
    PyTorch backend and builds a LoRA manager only then (tensorrt_llm/executor/base_worker.py
    `_lora_config = llm_args.lora_config if self._is_pytorch_backend`, NVIDIA/TensorRT-LLM
    @000bd1a6c3231651a9abe3cc6e7494042b6d2228, newer than 1.2.1: 1.2.1's worker has no rendered page).
    `enable_lora=True` without a lora_config gives the stand-in nothing to size the adapter slots
    with, so it is refused by name (the stand-in's own message).
  - lora_config fields: max_loras → EngineConfig.max_loras (resident adapters), max_lora_rank →
    max_lora_rank, max_cpu_loras → adapters kept read in host memory (least recently used forgotten
    first, as the host LoRA cache evicts); None takes 4, the default LoraConfig had at
    tensorrt_llm/lora_manager.py @007e181b5366648aa9b0fda4ec43f508a586bcd8 (docs/upstream/lora.md §3).
    lora_target_modules (TensorRT-LLM's names) must be ones the export takes; empty with no
    lora_dir is upstream's error (load_torch_hf_lora, same commit).
  - A request's adapter is identified by lora_int_id, as upstream's worker keys its cache by
    `str(lora_request.adapter_id)` (`_load_lora_adapter`, base_worker.py above): the first request with
    an id reads lora_path; later ones reuse what was read, whatever their path.
  - lora_request on an LLM without LoRA: 1.2.1's generate_async passes it on unchecked (llm.html) and
    the worker above builds no LoRA config without a LoRA manager, so upstream would answer from the
    base model. The stand-in refuses it by name instead (its own message): a repository whose
    model.yaml lacks lora_config must not answer adapter requests with base-model tokens.
  - An adapter whose modules lie outside lora_target_modules, or whose rank is above max_lora_rank,
    fails that request with the CPU engine's AdapterError naming what does not fit.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

from python_backend.engine.lora_weights import CONFIG_FILE, LoraSpec

# PEFT (Llama-style) module → TensorRT-LLM module, as TensorRT-LLM's converter maps them
from python_backend.triton_io.trtllm_lora import TRTLLM_MODULES

DEFAULT_MAX_LORAS = 4  # LoraConfig.max_loras / max_cpu_loras at lora_manager.py @007e181b (module docstring)
EMPTY_TARGETS = (
    "lora_target_modules is empty. Please specify lora_target_modules or provide lora_dir to infer "
    "lora_target_modules."
)
NO_LORA_CONFIG = (
    "LLM(enable_lora=True): the CPU stand-in of the LLM API needs lora_config (max_loras, max_lora_rank) "
    "to serve adapters"
)
LORA_OFF = (
    "generate_async(lora_request=...): this LLM serves no LoRA adapters (no lora_config); the CPU "
    "stand-in refuses the request rather than answer it from the base model"
)
NOT_LORA_EXPORT = (
    "LLM(lora_config=...): {onnx} is not a LoRA-capable export (python -m build_engines export-lora "
    "builds one; the emulated repository links it there when LoRA is on)"
)


def enabled(args) -> bool:
    if args.enable_lora and args.lora_config is None:
        raise ValueError(NO_LORA_CONFIG)
    return args.lora_config is not None


def engine_limits(args) -> dict:
    """EngineConfig's max_loras / max_lora_rank for the LLM's lora_config ({} when LoRA is off)."""
    if not enabled(args):
        return {}
    config = args.lora_config
    return {
        "max_loras": config.max_loras if config.max_loras is not None else DEFAULT_MAX_LORAS,
        "max_lora_rank": config.max_lora_rank,
    }


def target_modules(config, spec: LoraSpec | None, onnx: Path) -> frozenset[str]:
    """The TensorRT-LLM modules adapters may target: lora_target_modules, checked against the export."""
    if spec is None:
        raise ValueError(NOT_LORA_EXPORT.format(onnx=onnx))
    served = {TRTLLM_MODULES[m] for m in spec.modules if m in TRTLLM_MODULES}
    targets = list(config.lora_target_modules)
    if not targets and not config.lora_dir:
        raise ValueError(EMPTY_TARGETS)
    if not targets:  # upstream infers them from the (single) lora_dir adapter
        targets = sorted(_adapter_modules(Path(config.lora_dir[0])))
    for name in targets:
        if name not in served:
            raise ValueError(
                f"LoraConfig.lora_target_modules: {name!r} is not a module the CPU stand-in's export takes "
                f"({', '.join(sorted(served))})"
            )
    return frozenset(targets)


def _adapter_modules(path: Path) -> set[str]:
    config = json.loads((path / CONFIG_FILE).read_text())
    modules = config.get("target_modules") or []
    modules = [modules] if isinstance(modules, str) else modules
    return {TRTLLM_MODULES.get(m, m) for m in modules}


class AdapterCache:
    """lora_int_id → the CPU engine adapter holding it; loads on first use, forgets the least
    recently used idle one past max_cpu_loras."""

    def __init__(self, engine, config, targets: frozenset[str]):
        self.engine = engine
        self.targets = targets
        limit = config.max_cpu_loras if config.max_cpu_loras is not None else DEFAULT_MAX_LORAS
        self.capacity = max(1, limit)
        self._held: OrderedDict[int, str] = OrderedDict()
        self._lock = threading.Lock()

    def engine_name(self, lora_request) -> str:
        """The engine's name for the request's adapter, loaded now if this id is new. Raises the
        engine's AdapterError (a ValueError) when it does not fit."""
        adapter_id = int(lora_request.lora_int_id)
        with self._lock:
            name = self._held.get(adapter_id)
            if name is not None:
                self._held.move_to_end(adapter_id)
                return name
            name = f"lora-{adapter_id}"
            self._check_targets(lora_request)
            self.engine.load_adapter(name, lora_request.lora_path)
            self._held[adapter_id] = name
            self._forget_idle()
            return name

    def _check_targets(self, lora_request) -> None:
        modules = _adapter_modules(Path(lora_request.lora_path))
        outside = sorted(modules - self.targets)
        if outside:
            raise ValueError(
                f"adapter {lora_request.lora_name!r}: targets {', '.join(outside)}, not in "
                f"LoraConfig.lora_target_modules ({', '.join(sorted(self.targets))})"
            )

    def _forget_idle(self) -> None:
        from python_backend.engine.lora import AdapterInUseError

        for adapter_id in list(self._held):
            if len(self._held) <= self.capacity:
                return
            try:
                self.engine.unload_adapter(self._held[adapter_id])
            except AdapterInUseError:
                continue  # requests use it: kept, as the cache keeps tasks in progress
            del self._held[adapter_id]
