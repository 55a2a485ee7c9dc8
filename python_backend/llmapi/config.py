"""The LLM-API engine model's config.pbtxt `parameters`, typed: each name and default once.

The assembly (build_engines/llmapi) writes them with `to_parameters()`; the engine model reads them
with `from_parameters()`, which refuses a parameter it does not know, by name (a misspelt key would
otherwise run with the default). The LLM's own arguments are not here: they are model.yaml's
(upstream's format), which `llm_config_path` names.

Where each default comes from:
  llm_config_path               "model.yaml" under the model version directory: upstream's llmapi
                                model reads `os.environ.get('LLM_CONFIG_PATH', 'model.yaml')` under
                                pb_utils.get_model_dir() (NVIDIA/TensorRT-LLM triton_backend/all_models/
                                llmapi/tensorrt_llm/1/model.py @b35ac1b; docs/upstream/trtllm-llm-api.md b).
                                The environment variable still wins here, as upstream.
  cancellation_check_period_ms  100, as upstream's llmapi model (triton_config.cancellation_check_period_ms)
                                and the C++ backend (contract/trtllm_backend/parameters.py).
  stats_check_period_ms         100, as the C++ backend and tensorrtllm_backend's Python model
                                (docs/upstream/trtllm-llm-api.md d): how often llm.get_stats() feeds
                                the nv_trt_llm_* families.
  gpu_device_ids                "" (none: the instance sees every GPU). Upstream's docs/llmapi.md
                                (tensorrtllm_backend r26.04, lines 109-147): ";" separates the GPU sets
                                of the instances, "," the GPUs of one instance (tensor parallelism);
                                the number of sets must equal the instance count.
  exclude_input_in_output       False, the C++ backend's default when the parameter is absent; a
                                request's own exclude_input_in_output input wins, as there.
  log_level                     INFO: one JSON line per request (triton_io/logs.py).
  max_queue_size                256, as the C++ path's assembly writes for the tensorrtllm backend
                                (build_engines/trtllm/engine_config.py TrtllmEngineModel.max_queue_size,
                                its default_queue_policy, the executor's bound: bc.EXECUTOR_QUEUE);
                                build_engines/llmapi writes the same value as this model's
                                default_queue_policy. The LLM API queues without bound, so the frontend
                                bounds it (admission.py): past max_queue_size + max_batch_size sequences
                                held, a request is refused with the C++ backend's message. 0: no bound.
  lora_dir                      "" (LoRA off: lora_name refused by name). The adapter directory
                                (contract/adapter_dir.py) as the server sees it: a request's lora_name
                                is passed to the LLM API as LoRARequest(lora_path=<lora_dir>/<name>)
                                (lora.py). model.yaml's lora_config sizes the LLM's adapter caches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

MODEL = "llmapi engine"
CONFIG_PATH_ENV = "LLM_CONFIG_PATH"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_device_ids(text: str) -> tuple[tuple[int, ...], ...]:
    """`gpu_device_ids` as one tuple of device ids per instance ("0,1;2,3" → ((0, 1), (2, 3)));
    empty text: no sets. ValueError names the parameter and the part at fault."""
    if not text.strip():
        return ()
    sets = []
    for part in text.split(";"):
        ids = []
        for item in part.split(","):
            item = item.strip()
            if not item.isdigit():
                raise ValueError(
                    f"{MODEL} parameter gpu_device_ids: {item!r} in {text!r} is not a device id "
                    "(';' separates instances, ',' the GPUs of one instance, e.g. \"0,1;2,3\")"
                )
            ids.append(int(item))
        if len(set(ids)) != len(ids):
            raise ValueError(f"{MODEL} parameter gpu_device_ids: {part!r} names a GPU twice")
        sets.append(tuple(ids))
    return tuple(sets)


def _parse(name: str, kind: str, raw: str):
    if kind == "bool":
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
    elif kind == "int":
        try:
            return int(raw)
        except ValueError:
            pass
    else:
        return raw
    raise ValueError(f"{MODEL} parameter {name}: cannot parse {raw!r} as {kind}")


@dataclass(frozen=True)
class LlmApiModelConfig:
    """The engine model's parameters (module docstring: each one's meaning and source)."""

    llm_config_path: str = "model.yaml"
    cancellation_check_period_ms: int = 100
    stats_check_period_ms: int = 100
    gpu_device_ids: str = ""
    exclude_input_in_output: bool = False
    log_level: str = "INFO"
    max_queue_size: int = 256
    lora_dir: str = ""

    def __post_init__(self) -> None:
        if not self.llm_config_path:
            raise ValueError(f"{MODEL} parameter llm_config_path: must name the LLM's YAML file")
        for name in ("cancellation_check_period_ms", "stats_check_period_ms"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{MODEL} parameter {name}: must be >= 1, got {value}")
        if self.max_queue_size < 0:
            raise ValueError(f"{MODEL} parameter max_queue_size: must be >= 0, got {self.max_queue_size}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(
                f"{MODEL} parameter log_level: {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            )
        parse_device_ids(self.gpu_device_ids)

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> LlmApiModelConfig:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(
                f"{MODEL} parameter {unknown[0]}: not a parameter of this model "
                f"(known: {', '.join(sorted(known))})"
            )
        return cls(**{name: _parse(name, known[name], raw) for name, raw in params.items()})

    def to_parameters(self) -> dict[str, str]:
        """Every parameter as config.pbtxt's string_value (bools as "true"/"false"); an empty one
        (gpu_device_ids unset) is left out: an empty string_value may not reach the model at all."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if text:
                out[f.name] = text
        return out

    @property
    def device_sets(self) -> tuple[tuple[int, ...], ...]:
        return parse_device_ids(self.gpu_device_ids)

    def llm_config_file(self, version_dir: Path, environ: dict[str, str] | None = None) -> Path:
        """model.yaml's path: env LLM_CONFIG_PATH if set (as upstream), else the parameter; a
        relative path is under the model version directory."""
        environ = os.environ if environ is None else environ
        return Path(version_dir) / environ.get(CONFIG_PATH_ENV, self.llm_config_path)
