"""Precisions the planner knows and the memory figures of one layout, taken from the memory planner.

Weights per GPU, KV bytes per token and how many tokens the paged KV cache holds all come from
build_engines/trtllm/plan.py (`python -m build_engines plan`); nothing here re-derives them. This module
only maps a precision name onto that planner's request and names the tensor-core path its GEMMs use.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..trtllm import plan as memory_plan
from ..trtllm.checkpoint_shape import CheckpointShape
from .gpus import GpuSpec

# NVFP4 (the PyTorch path's checkpoint format): 4-bit weights plus one FP8 scale per 16 weights.
NVFP4_WEIGHT_BYTES = 0.5 + 1 / 16


@dataclass(frozen=True)
class Precision:
    name: str
    dtype: str  # activation dtype the plan request takes
    quant: str | None  # plan.QUANT_WEIGHT_BYTES key, None for unquantized weights
    kv_dtype: str
    compute: str  # which tensor-core peak the GEMMs run at (gpus.GpuSpec.dense_flops key)
    engines: tuple[str, ...]  # "trt" (our TensorRT-LLM recipes) and/or "pytorch" (checkpoint formats)


# Weight-only formats (int8_wo, int4_awq) dequantize to 16-bit GEMMs: their prefill runs at the bf16 peak.
PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("fp16", "float16", None, "float16", "fp16", ("trt", "pytorch")),
        Precision("bf16", "bfloat16", None, "bfloat16", "bf16", ("trt", "pytorch")),
        Precision("int8_wo", "float16", "int8_wo", "float16", "fp16", ("trt",)),
        Precision("int8_sq", "float16", "int8_sq", "float16", "int8", ("trt",)),
        Precision("int8_kv", "float16", None, "int8", "fp16", ("trt",)),
        Precision("fp8", "float16", "fp8", "fp8", "fp8", ("trt", "pytorch")),
        Precision("int4_awq", "float16", "int4_awq", "float16", "fp16", ("trt", "pytorch")),
        Precision("nvfp4", "bfloat16", "fp8", "fp8", "fp4", ("pytorch",)),
    )
}


def precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: one of {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


@dataclass(frozen=True)
class MemoryFigures:
    """One GPU of a TP×PP layout, as the memory planner sizes it."""

    total_params: int
    weight_bytes_per_gpu: int
    kv_bytes_per_token_per_gpu: int
    kv_tokens_per_gpu: int  # max_tokens_in_paged_kv_cache
    max_sequences: int  # at ISL+OSL tokens each, whole blocks
    kv_fraction: float  # kv_cache_free_gpu_mem_fraction to configure
    fits: bool
    notes: tuple[str, ...]


def load_shape(checkpoint: Path) -> CheckpointShape:
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    return CheckpointShape.from_hf_config(cfg)


def figures(
    shape: CheckpointShape, prec: Precision, gpu: GpuSpec, *, tp: int, pp: int, context: int
) -> MemoryFigures:
    req = memory_plan.PlanRequest(
        dtype=prec.dtype,
        tp=tp,
        pp=pp,
        gpu_mem_gb=gpu.memory_gib,
        context=context,
        quant=prec.quant,
        kv_dtype=prec.kv_dtype,
    )
    if prec.name != "nvfp4":
        p = memory_plan.plan(shape, req)
        return MemoryFigures(
            total_params=p.total_params,
            weight_bytes_per_gpu=p.weight_bytes_per_gpu,
            kv_bytes_per_token_per_gpu=p.kv_bytes_per_token_per_gpu,
            kv_tokens_per_gpu=p.max_tokens_in_paged_kv_cache,
            max_sequences=p.max_concurrent_sequences,
            kv_fraction=p.kv_cache_free_gpu_mem_fraction,
            fits=p.fits,
            notes=tuple(p.notes),
        )
    # The planner has no NVFP4 row: plan it as FP8 (1 byte per linear weight), then give back the bytes
    # NVFP4 saves on the linear layers of the most loaded rank, and plan again with that much more room.
    # Good to a KV block or so: the larger GPU's reserve and int() rounding move by a few bytes.
    fp8 = memory_plan.plan(shape, req)
    linear_per_gpu = math.ceil(shape.num_layers / pp) * math.ceil(
        (shape.attention_params() + shape.mlp_params()) / tp
    )
    saved = int(linear_per_gpu * (1 - NVFP4_WEIGHT_BYTES))
    # The planner reserves a share of GPU memory (RESERVE_FRACTION) above its minimum: grow the GPU by
    # saved / (1 - that share) so the room left for the KV cache grows by exactly `saved`.
    gpu_bytes = gpu.memory_gib * memory_plan.GIB
    share = (
        memory_plan.RESERVE_FRACTION
        if gpu_bytes * memory_plan.RESERVE_FRACTION > memory_plan.RESERVE_MIN_BYTES
        else 0
    )
    roomier = memory_plan.plan(shape, _with_memory(req, (gpu_bytes + saved / (1 - share)) / memory_plan.GIB))
    return MemoryFigures(
        total_params=fp8.total_params,
        weight_bytes_per_gpu=fp8.weight_bytes_per_gpu - saved,
        kv_bytes_per_token_per_gpu=fp8.kv_bytes_per_token_per_gpu,
        kv_tokens_per_gpu=roomier.max_tokens_in_paged_kv_cache,
        max_sequences=roomier.max_concurrent_sequences,
        kv_fraction=fp8.kv_cache_free_gpu_mem_fraction,
        fits=roomier.fits,
        notes=(
            *fp8.notes,
            f"nvfp4: linear weights at {NVFP4_WEIGHT_BYTES} B each (FP8 plan minus {saved:,} B)",
        ),
    )


def _with_memory(req: memory_plan.PlanRequest, gib: float) -> memory_plan.PlanRequest:
    return memory_plan.PlanRequest(
        dtype=req.dtype,
        tp=req.tp,
        pp=req.pp,
        gpu_mem_gb=gib,
        context=req.context,
        quant=req.quant,
        kv_dtype=req.kv_dtype,
    )
