"""LoRA on the C++ path at build time (build_engines/trtllm/lora.py): trtllm-build's LoRA flags in the
dry run, the engine's record read back, the backend's lora_cache_* parameters, and the plan's LoRA
device cache (docs/upstream/lora.md 1.2, 1.5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from build_engines.trtllm import engine_build, plan
from build_engines.trtllm.checkpoint_shape import CheckpointShape
from build_engines.trtllm.emulated import EmulatedLimits, engine_config_json
from build_engines.trtllm.engine_facts import EngineFacts
from build_engines.trtllm.environment import GpuEnvironment
from build_engines.trtllm.lora import (
    EngineLora,
    LoraBuild,
    LoraCacheRequest,
    cache_for,
    describe_lora,
    shared_models_lora,
)
from build_engines.trtllm.recipes import EngineBuildConfig

ALL = ["attn_q", "attn_k", "attn_v", "attn_dense", "mlp_h_to_4h", "mlp_4h_to_h", "mlp_gate"]


def _build_line(cfg: EngineBuildConfig) -> str:
    printed: list[str] = []
    engine_build.run(cfg, dry_run=True, env=GpuEnvironment(), out=printed.append)
    return next(line for line in "\n".join(printed).splitlines() if line.startswith("trtllm-build"))


def test_the_dry_run_builds_with_the_lora_plugin_its_modules_and_max_rank():
    cfg = EngineBuildConfig("fp16", Path("/ckpt"), Path("/out"), lora=LoraBuild(max_lora_rank=16))
    line = _build_line(cfg)
    assert line.endswith(
        "--lora_plugin float16 --lora_target_modules " + " ".join(ALL) + " --max_lora_rank 16"
    )
    plain = _build_line(EngineBuildConfig("fp16", Path("/ckpt"), Path("/out")))
    assert "lora" not in plain


def test_lora_needs_a_float16_engine_and_known_modules():
    # lora_weights must have the engine's dtype and the template declares TYPE_FP16.
    with pytest.raises(ValueError, match="LoRA needs a float16 engine"):
        _build_line(EngineBuildConfig("bf16", Path("/ckpt"), Path("/out"), lora=LoraBuild()))
    with pytest.raises(ValueError, match=r"lora target modules \['q_proj'\]"):
        LoraBuild(target_modules=("q_proj",))


def test_the_engines_lora_record_is_read_back(tmp_path, onnx_fp32):
    onnx = onnx_fp32
    limits = EmulatedLimits(max_batch_size=8, max_seq_len=512)
    (tmp_path / "config.json").write_text(
        json.dumps(engine_config_json(onnx, limits, LoraBuild(max_lora_rank=8)))
    )
    facts = EngineFacts.from_build_config(tmp_path / "config.json", None)
    assert facts.lora == EngineLora(plugin="float16", max_lora_rank=8, target_modules=tuple(ALL))
    (tmp_path / "config.json").write_text(json.dumps(engine_config_json(onnx, limits)))
    assert EngineFacts.from_build_config(tmp_path / "config.json", None).lora is None


def test_the_cache_parameters_follow_the_engine_and_the_options():
    engine = EngineLora(plugin="float16", max_lora_rank=4, target_modules=("attn_q",))
    cache = cache_for(LoraCacheRequest(host_memory_bytes=10**8), engine)
    # max adapter size = the engine's rank; optimal = the backend's default 8, not above the rank
    assert cache.parameters() == {
        "lora_cache_max_adapter_size": 4,
        "lora_cache_optimal_adapter_size": 4,
        "lora_cache_host_memory_bytes": 10**8,
    }
    assert shared_models_lora(LoraCacheRequest(lora_dir="/models/lora"), engine) == {
        "lora_dir": "/models/lora",
        "lora_format": "trtllm",
        "lora_engine_inputs": ("lora_task_id", "lora_weights", "lora_config"),
    }
    assert "lora_dir=/models/lora" in describe_lora(LoraCacheRequest(lora_dir="/models/lora"), engine)[0]
    assert describe_lora(LoraCacheRequest(), None) == []
    with pytest.raises(ValueError, match="need an engine built with LoRA"):
        cache_for(LoraCacheRequest(lora_dir="/models/lora"), None)


def test_the_plan_keeps_the_lora_device_cache_out_of_the_kv_cache(checkpoint_dir):
    shape = CheckpointShape.from_hf_config(json.loads((checkpoint_dir / "config.json").read_text()))
    base = plan.plan(shape, plan.PlanRequest(gpu_mem_gb=24))
    with_lora = plan.plan(
        shape, plan.PlanRequest(gpu_mem_gb=24, lora=LoraBuild(max_lora_rank=8), lora_adapters=4)
    )
    # rank 8 over all 7 modules: 8·(in+out) summed over q,k,v,o,gate,up,down (10176 a layer) × 30 layers,
    # fp16, on one GPU; four of them.
    assert with_lora.lora_cache_bytes_per_gpu == 4 * 8 * 10176 * 30 * 2
    assert with_lora.kv_cache_bytes_per_gpu < base.kv_cache_bytes_per_gpu
    free = with_lora.gpu_mem_bytes - with_lora.weight_bytes_per_gpu - with_lora.reserve_bytes
    left = free - with_lora.kv_cache_bytes_per_gpu
    assert with_lora.lora_cache_gpu_memory_fraction * left >= with_lora.lora_cache_bytes_per_gpu
    assert base.lora_cache_gpu_memory_fraction is None
