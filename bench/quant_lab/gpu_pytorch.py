"""The PyTorch-backend (LLM API) GPU path's recipes in the lab's layout: each ModelOpt checkpoint format
its 1.2.1 backend loads (build_engines/llmapi/checkpoint_facts.py), with its planned memory on a reference
GPU from the capacity planner (weights: capacity/memory.py; KV cache: capacity/llmapi_memory.py, what
KvCacheConfig's free_gpu_memory_fraction leaves) and the `quantize-gpu` command that makes it (a dry run,
build_engines/llmapi/quantize.py). Nothing here is measured: this machine has no GPU."""

from __future__ import annotations

import shlex
from pathlib import Path

from build_engines.capacity.gpus import gpu
from build_engines.capacity.llmapi_memory import kv_budget
from build_engines.capacity.memory import figures, load_shape, precision
from build_engines.llmapi import quantize
from build_engines.llmapi.checkpoint_facts import PRECISIONS
from build_engines.llmapi.settings import KvCacheSettings

REFERENCE_GPU = "H100"  # 80 GiB: the planner's published-point GPU (docs/CAPACITY.md)


def rows(checkpoint_dir: Path, context: int = 2048) -> list[dict]:
    """One row per PyTorch-path recipe: planned weights, KV bytes per token, the KV budget, the command."""
    shape = load_shape(checkpoint_dir)
    spec = gpu(REFERENCE_GPU)
    fraction = KvCacheSettings().free_gpu_memory_fraction  # model.yaml's default, upstream's 0.9
    out = []
    for name in PRECISIONS:
        prec = precision(name)
        mem = figures(shape, prec, spec, tp=1, pp=1, context=context)
        budget = kv_budget(shape, prec, spec, context=context, free_gpu_memory_fraction=fraction)
        commands = []
        if name in quantize.QFORMATS:
            req = quantize.QuantizeRequest(
                checkpoint=checkpoint_dir, output=Path("build/quantized") / name, precision=name
            )
            commands = [shlex.join(quantize.command(req))]
        out.append(
            {
                "variant": f"gpu-pytorch:{name}",
                "measured": False,
                "weights_bytes": mem.weight_bytes_per_gpu,
                "kv_bytes_per_token": mem.kv_bytes_per_token_per_gpu,
                "kv_cache_tokens": budget.kv_tokens,
                "kv_cache_bytes": budget.kv_bytes,
                "planned_on": f"{spec.name}, free_gpu_memory_fraction {fraction}, {context}-token sequences",
                "dry_run_commands": commands,
                "note": "not measured here (no GPU): planner figures; the checkpoint loads as is"
                if not commands
                else "not measured here (no GPU): planner figures",
            }
        )
    return out
