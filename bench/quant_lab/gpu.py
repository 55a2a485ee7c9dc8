"""The GPU recipes in the lab's layout: memory from the capacity planner (build_engines/trtllm/
plan.py) and the build commands of a dry run (trtllm/recipes.py); nothing here is measured — this
machine has no GPU, so every quality and speed cell is None and the report says so."""

from __future__ import annotations

import shlex
from pathlib import Path

from build_engines.trtllm import plan, recipes

# recipe → (planner weight quantization, KV-cache dtype); the planner's own defaults otherwise.
GPU_RECIPES = {
    "fp16": (None, None),
    "int8_wo": ("int8_wo", None),
    "int8_sq": ("int8_sq", None),
    "int8_kv": (None, "int8"),
    "fp8": ("fp8", None),
    "int4_awq": ("int4_awq", None),
}


def rows(checkpoint_dir: Path, context: int = 2048) -> list[dict]:
    """One row per GPU recipe: planned weight bytes, KV bytes per token, the dry-run commands."""
    out = []
    for name, (quant, kv_dtype) in GPU_RECIPES.items():
        p = plan.plan_from_file(
            checkpoint_dir, plan.PlanRequest(dtype="float16", context=context, quant=quant, kv_dtype=kv_dtype)
        )
        if name in recipes.CONVERTERS:
            cfg = recipes.EngineBuildConfig(
                precision=name, checkpoint=checkpoint_dir, output=Path("build/engines") / f"{name}-tp1-pp1"
            )
            commands = [shlex.join(c) for c in recipes.commands(cfg)]
        else:
            commands = []  # the planner knows its weight size; build_engines has no converter for it yet
        out.append(
            {
                "variant": f"gpu:{name}",
                "measured": False,
                "weights_bytes": p.weight_bytes,
                "kv_bytes_per_token": p.kv_bytes_per_token,
                "dry_run_commands": commands,
                "note": "not measured here (no GPU): planner figures",
            }
        )
    return out
