"""LoRA on the C++ path: the engine built with the LoRA plugin, and the backend's PEFT cache parameters.

Build (trtllm-build's "LoRA arguments", tensorrt_llm/commands/build.py of NVIDIA/TensorRT-LLM at
008b2b8d23af95e4e19fa6f354f9c5f6349b2bfc; docs/upstream/lora.md §1.5): `--lora_plugin <dtype>`
turns LoRA on, `--lora_target_modules` names the modules requests may adapt (TensorRT-LLM's names,
python_backend/contract/trtllm_backend/lora.py MODULE_IDS), `--max_lora_rank` (default 64) bounds a
request's rank. The adapters themselves are not in the engine: they arrive with requests
(lora_task_id / lora_weights / lora_config). trtllm-build records them in config.json's
build_config (plugin_config.lora_plugin, lora_config.max_lora_rank / lora_target_modules), which
EngineLora reads back.

Serve: the engine model gets the backend's lora_cache_* parameters (getPeftCacheConfigFromParams)
and declares the three inputs; preprocessing turns a request's lora_name into them (lora_format
"trtllm", python_backend/triton_io/trtllm_lora.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from python_backend.contract.trtllm_backend import lora as bl

# q/k/v go together (get_missing_qkv_modules adds the missing ones, lora_manager.py at 007e181b): an
# engine built for any of them takes all three, so this default is every Llama-style module.
DEFAULT_TARGET_MODULES = tuple(bl.MODULE_IDS)
# The backend's lora_cache_optimal_adapter_size default (getPeftCacheConfigFromParams).
OPTIMAL_ADAPTER_SIZE = 8
# The inputs the engine model declares, and the ensemble feeds from preprocessing, for a LoRA engine.
ENGINE_INPUTS = bl.INPUTS


@dataclass(frozen=True)
class LoraBuild:
    """What `engine` builds LoRA for (trtllm-build flags)."""

    max_lora_rank: int = bl.DEFAULT_MAX_LORA_RANK
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES

    def __post_init__(self) -> None:
        if self.max_lora_rank < 1:
            raise ValueError(f"max_lora_rank must be a positive integer, got {self.max_lora_rank}")
        unknown = sorted(set(self.target_modules) - set(bl.MODULE_IDS))
        if unknown or not self.target_modules:
            raise ValueError(
                f"lora target modules {unknown or '(none)'}: choose from {', '.join(bl.MODULE_IDS)}"
            )

    def build_flags(self, dtype: str) -> tuple[str, ...]:
        # The backend refuses lora_weights whose dtype is not the engine's ("Expected lora weights to
        # be the same data type as base model", loraUtils.cpp at 2a9abd95), and the Triton template's
        # input is TYPE_FP16: only a float16 engine takes what clients send.
        if dtype != "float16":
            raise ValueError(
                f"LoRA needs a float16 engine (dtype {dtype}): the tensorrtllm backend's lora_weights input "
                "is TYPE_FP16 and must match the engine dtype"
            )
        targets = self.target_modules
        return (
            "--lora_plugin",
            dtype,
            "--lora_target_modules",
            *targets,
            "--max_lora_rank",
            str(self.max_lora_rank),
        )


@dataclass(frozen=True)
class EngineLora:
    """An engine's LoRA as trtllm-build recorded it in config.json (None: built without the plugin)."""

    plugin: str
    max_lora_rank: int
    target_modules: tuple[str, ...]

    @classmethod
    def from_build_config(cls, build: dict) -> EngineLora | None:
        plugin = build.get("plugin_config", {}).get("lora_plugin")
        if plugin is None:
            return None
        built = build.get("lora_config", {})
        return cls(
            plugin=str(plugin),
            max_lora_rank=int(built.get("max_lora_rank", bl.DEFAULT_MAX_LORA_RANK)),
            target_modules=tuple(built.get("lora_target_modules") or ()),
        )


@dataclass(frozen=True)
class LoraCache:
    """The engine model's lora_cache_* parameters. None leaves the backend's default (parameters.py:
    0.05 of the GPU memory left after the engine and the KV cache; 1 GiB of host memory)."""

    max_adapter_size: int  # the engine's max_lora_rank: any rank it takes can be cached
    optimal_adapter_size: int = OPTIMAL_ADAPTER_SIZE
    gpu_memory_fraction: float | None = None
    host_memory_bytes: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.optimal_adapter_size <= self.max_adapter_size:
            raise ValueError(
                f"lora_cache_optimal_adapter_size {self.optimal_adapter_size} must be in "
                f"[1, lora_cache_max_adapter_size {self.max_adapter_size}]"
            )
        if self.gpu_memory_fraction is not None and not 0 < self.gpu_memory_fraction <= 1:
            raise ValueError(
                f"lora_cache_gpu_memory_fraction must be in (0, 1], got {self.gpu_memory_fraction}"
            )
        if self.host_memory_bytes is not None and self.host_memory_bytes < 1:
            raise ValueError(f"lora_cache_host_memory_bytes must be positive, got {self.host_memory_bytes}")

    def parameters(self) -> dict[str, object]:
        params: dict[str, object] = {
            "lora_cache_max_adapter_size": self.max_adapter_size,
            "lora_cache_optimal_adapter_size": self.optimal_adapter_size,
        }
        if self.gpu_memory_fraction is not None:
            params["lora_cache_gpu_memory_fraction"] = self.gpu_memory_fraction
        if self.host_memory_bytes is not None:
            params["lora_cache_host_memory_bytes"] = self.host_memory_bytes
        return params


@dataclass(frozen=True)
class LoraCacheRequest:
    """gpu-repo's LoRA options: the cache sizes (from `plan`; None: the backend's defaults) and the
    adapter directory preprocessing reads lora_name from, as the server sees it ("" = off)."""

    lora_dir: str = ""
    gpu_memory_fraction: float | None = None
    host_memory_bytes: int | None = None


def cache_for(req: LoraCacheRequest, engine: EngineLora | None) -> LoraCache | None:
    """The engine model's cache parameters for a LoRA engine; refuses LoRA options without one."""
    if engine is None:
        if req.lora_dir or req.gpu_memory_fraction is not None or req.host_memory_bytes is not None:
            raise ValueError(
                "--lora-dir and --lora-cache-* need an engine built with LoRA (engine --lora-target-modules)"
            )
        return None
    return LoraCache(
        max_adapter_size=engine.max_lora_rank,
        optimal_adapter_size=min(OPTIMAL_ADAPTER_SIZE, engine.max_lora_rank),
        gpu_memory_fraction=req.gpu_memory_fraction,
        host_memory_bytes=req.host_memory_bytes,
    )


def shared_models_lora(req: LoraCacheRequest, engine: EngineLora | None) -> dict:
    """assemble_shared_models' LoRA arguments: preprocessing sends lora_task_id / lora_weights /
    lora_config (lora_format "trtllm") to an engine built with LoRA; nothing otherwise."""
    inputs = ENGINE_INPUTS if engine is not None else ()
    return {"lora_dir": req.lora_dir, "lora_format": "trtllm", "lora_engine_inputs": inputs}


def describe_lora(req: LoraCacheRequest, engine: EngineLora | None) -> list[str]:
    """gpu-repo --dry-run's line about LoRA (none for an engine without it)."""
    if engine is None:
        return []
    return [
        f"# LoRA engine (rank <= {engine.max_lora_rank}; {' '.join(engine.target_modules)}): preprocessing "
        f"lora_format=trtllm, lora_dir={req.lora_dir or '(empty: lora_name off)'}"
    ]


def adapter_bytes_per_gpu(shape, build: LoraBuild, *, tp: int, pp: int, dtype_bytes: int) -> int:
    """One adapter of max_lora_rank on the most loaded GPU: r·(in + out) values per enabled module and
    layer (loraModule.h flattenedInOutSize), the TP-split side divided (A of a column-parallel
    projection is whole and B split; a row-parallel one, attn_dense and mlp_4h_to_h, the reverse:
    lora_manager.py load_from_hf's split at 007e181b), layers over PP stages. `shape`: CheckpointShape."""
    hidden, kv = shape.num_heads * shape.head_dim, shape.num_kv_heads * shape.head_dim
    dims = {
        "attn_q": (shape.hidden_size, hidden),
        "attn_k": (shape.hidden_size, kv),
        "attn_v": (shape.hidden_size, kv),
        "attn_dense": (hidden, shape.hidden_size),
        "mlp_h_to_4h": (shape.hidden_size, shape.intermediate_size),
        "mlp_gate": (shape.hidden_size, shape.intermediate_size),
        "mlp_4h_to_h": (shape.intermediate_size, shape.hidden_size),
    }
    row_parallel = ("attn_dense", "mlp_4h_to_h")
    width = 0
    for module in build.target_modules:
        features_in, features_out = dims[module]
        if module in row_parallel:
            width += -(-features_in // tp) + features_out
        else:
            width += features_in + -(-features_out // tp)
    layers = -(-shape.num_layers // pp)
    return build.max_lora_rank * width * layers * dtype_bytes
