"""Does the planned LLM fit the GPU it will serve on? The capacity planner's LLM-API KV budget
(build_engines/capacity/llmapi_memory.py: min(max_tokens, free_gpu_memory_fraction × the memory the
weights leave), whole blocks) for model.yaml's settings, checked at assembly when `gpu-repo --gpu-engine
pytorch --gpu NAME` says which GPU: a cache that cannot hold one max_seq_len sequence is refused here
instead of at the LLM's start on the GPU."""

from __future__ import annotations

from pathlib import Path

from ..capacity.gpus import GPUS, gpu
from ..capacity.llmapi_memory import describe, kv_budget
from ..capacity.memory import load_shape, precision
from .settings import LlmApiSettings

GPU_NAMES = tuple(sorted(GPUS))


def kv_budget_lines(
    settings: LlmApiSettings, checkpoint: Path, gpu_name: str, precision_name: str
) -> list[str]:
    """The budget, described; ValueError when not one max_seq_len-token sequence fits."""
    kv = settings.kv_cache
    budget = kv_budget(
        load_shape(checkpoint),
        precision(precision_name),
        gpu(gpu_name),
        tp=settings.tensor_parallel_size,
        pp=settings.pipeline_parallel_size,
        context=settings.max_seq_len,
        free_gpu_memory_fraction=kv.free_gpu_memory_fraction,
        max_tokens=kv.max_tokens,
        tokens_per_block=kv.tokens_per_block,
    )
    lines = describe(budget)
    if not budget.fits:
        raise ValueError(
            f"on a {gpu_name} the KV cache cannot hold one {settings.max_seq_len}-token sequence: "
            f"{'; '.join(lines)}. Raise --kv-cache-free-gpu-memory-fraction or --kv-cache-max-tokens, "
            "lower --max-seq-len, quantize, or add GPUs (--tp / --pp)"
        )
    return lines
