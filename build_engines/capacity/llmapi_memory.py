"""GPU memory of the PyTorch-backend (LLM API) path: the KV cache that KvCacheConfig leaves room for.

TensorRT-LLM 1.2.1's KvCacheConfig sizes the cache from `free_gpu_memory_fraction` ("The fraction of GPU
memory fraction that should be allocated for the KV cache. Default is 90%. If both `max_tokens` and
`free_gpu_memory_fraction` are specified, memory corresponding to the minimum will be used", its field
description: python_backend/contract/llmapi_fields.json, docs/upstream/trtllm-llm-api.md c). So:

    KV tokens = min(max_tokens, fraction x (GPU memory - weights - reserve) / KV bytes per token)

rounded down to whole blocks of `tokens_per_block`. Weights and KV bytes per token are the memory
planner's (memory.figures, build_engines/trtllm/plan.py), and so is the reserve: the room the CUDA
context, activations and the sampler take before the cache is sized (the PyTorch backend measures
them in a warm-up run; the planner's max(2 GiB, 10 %) stands for it, unmeasured here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..trtllm import plan as memory_plan
from ..trtllm.checkpoint_shape import CheckpointShape
from .gpus import GpuSpec
from .memory import Precision, figures


@dataclass(frozen=True, kw_only=True)
class LlmApiKvBudget:
    """One GPU of a TP×PP layout under the LLM API."""

    gpu_bytes: int
    weight_bytes_per_gpu: int
    reserve_bytes: int
    free_after_weights: int  # what the fraction is a share of
    free_gpu_memory_fraction: float
    max_tokens: int | None
    kv_bytes_per_token_per_gpu: int
    kv_tokens: int  # the cache's size, whole blocks
    limited_by: str  # "free_gpu_memory_fraction" or "max_tokens"
    max_sequences: int  # at `context` tokens each, whole blocks
    context: int

    @property
    def kv_bytes(self) -> int:
        return self.kv_tokens * self.kv_bytes_per_token_per_gpu

    @property
    def fits(self) -> bool:
        return self.max_sequences > 0


def kv_budget(
    shape: CheckpointShape,
    prec: Precision,
    gpu: GpuSpec,
    *,
    tp: int = 1,
    pp: int = 1,
    context: int,
    free_gpu_memory_fraction: float = 0.9,
    max_tokens: int | None = None,
    tokens_per_block: int = 32,
) -> LlmApiKvBudget:
    if not 0 <= free_gpu_memory_fraction <= 1:
        raise ValueError(
            "kv_cache_config.free_gpu_memory_fraction must be a float between 0 and 1, "
            f"got {free_gpu_memory_fraction}"
        )
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"kv_cache_config.max_tokens must be positive, got {max_tokens}")
    mem = figures(shape, prec, gpu, tp=tp, pp=pp, context=context)
    gpu_bytes = int(gpu.memory_gib * memory_plan.GIB)
    reserve = max(memory_plan.RESERVE_MIN_BYTES, int(gpu_bytes * memory_plan.RESERVE_FRACTION))
    free = max(0, gpu_bytes - mem.weight_bytes_per_gpu - reserve)
    by_fraction = int(free * free_gpu_memory_fraction) // mem.kv_bytes_per_token_per_gpu
    tokens = by_fraction if max_tokens is None else min(by_fraction, max_tokens)
    tokens = tokens // tokens_per_block * tokens_per_block
    seq_tokens = math.ceil(context / tokens_per_block) * tokens_per_block
    return LlmApiKvBudget(
        gpu_bytes=gpu_bytes,
        weight_bytes_per_gpu=mem.weight_bytes_per_gpu,
        reserve_bytes=reserve,
        free_after_weights=free,
        free_gpu_memory_fraction=free_gpu_memory_fraction,
        max_tokens=max_tokens,
        kv_bytes_per_token_per_gpu=mem.kv_bytes_per_token_per_gpu,
        kv_tokens=tokens,
        limited_by="max_tokens"
        if max_tokens is not None and max_tokens < by_fraction
        else "free_gpu_memory_fraction",
        max_sequences=tokens // seq_tokens,
        context=context,
    )


def describe(b: LlmApiKvBudget) -> list[str]:
    gib = memory_plan.GIB
    cap = f", max_tokens {b.max_tokens:,}" if b.max_tokens is not None else ""
    return [
        f"LLM API memory per GPU: {b.gpu_bytes / gib:.1f} GiB - weights "
        f"{b.weight_bytes_per_gpu / gib:.2f} GiB - reserve {b.reserve_bytes / gib:.1f} GiB = "
        f"{b.free_after_weights / gib:.2f} GiB free",
        f"KV cache (kv_cache_config: free_gpu_memory_fraction {b.free_gpu_memory_fraction}{cap}): "
        f"{b.kv_tokens:,} tokens = {b.kv_bytes / gib:.2f} GiB, set by {b.limited_by}; "
        f"{b.max_sequences} sequences of {b.context} tokens",
    ]
