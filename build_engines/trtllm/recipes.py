"""One handler per precision: the TensorRT-LLM 1.2.x commands that turn an HF checkpoint into an engine.

Every recipe is two steps: (1) write a TensorRT-LLM checkpoint, sharded for TP×PP (parallelism is
fixed here, at conversion, not at build time), quantized as the precision asks; (2) `trtllm-build`
it with the in-flight-batching settings the `tensorrtllm` backend needs (paged KV cache, packed
inputs, fused context attention that can read the paged cache, so KV reuse and chunked context
work). Each flag below is listed in pinned_flags_1_2.json with the 1.2.x source file defining it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine_build import EngineBuildConfig

LLAMA_CONVERT = "models/core/llama/convert_checkpoint.py"  # relative to the examples dir (1.2.x layout)
QUANTIZE = "quantization/quantize.py"
PYTHON = "python3"

DTYPE_NAMES = {"fp16": "float16", "bf16": "bfloat16"}


def _convert(cfg: EngineBuildConfig, *extra: str) -> list[str]:
    return [PYTHON, str(Path(cfg.examples_dir) / LLAMA_CONVERT),
            "--model_dir", str(cfg.checkpoint), "--output_dir", str(cfg.tllm_checkpoint_dir),
            "--dtype", cfg.dtype, "--tp_size", str(cfg.tp), "--pp_size", str(cfg.pp), *extra]


def fp16(cfg: EngineBuildConfig) -> list[str]:
    return _convert(cfg)


bf16 = fp16  # the dtype (bfloat16) comes from cfg.dtype


def int8_wo(cfg: EngineBuildConfig) -> list[str]:
    # W8A16: int8 weights, activations in cfg.dtype; no calibration data needed.
    return _convert(cfg, "--use_weight_only", "--weight_only_precision", "int8")


def int8_sq(cfg: EngineBuildConfig) -> list[str]:
    # W8A8 SmoothQuant, alpha 0.5 (the paper's first try), per-token activation and per-channel
    # weight scales: the most accurate of the four SmoothQuant variants. Needs calibration data.
    return _convert(cfg, "--smoothquant", "0.5", "--per_token", "--per_channel")


def int8_kv(cfg: EngineBuildConfig) -> list[str]:
    # Weights stay in cfg.dtype; only the KV cache is int8 (calibrated), doubling cache capacity.
    return _convert(cfg, "--int8_kv_cache")


def fp8(cfg: EngineBuildConfig) -> list[str]:
    # FP8 goes through ModelOpt (quantize.py), which calibrates weights, activations and KV scales.
    return [PYTHON, str(Path(cfg.examples_dir) / QUANTIZE),
            "--model_dir", str(cfg.checkpoint), "--output_dir", str(cfg.tllm_checkpoint_dir),
            "--dtype", cfg.dtype, "--qformat", "fp8", "--kv_cache_dtype", "fp8",
            "--tp_size", str(cfg.tp), "--pp_size", str(cfg.pp)]


CONVERTERS: dict[str, Callable[[EngineBuildConfig], list[str]]] = {
    "fp16": fp16, "bf16": bf16, "int8_wo": int8_wo, "int8_sq": int8_sq, "int8_kv": int8_kv, "fp8": fp8,
}
PRECISIONS = tuple(CONVERTERS)


def build(cfg: EngineBuildConfig) -> list[str]:
    """`trtllm-build` for in-flight batching; identical for every precision (quantization is in the checkpoint)."""
    return ["trtllm-build",
            "--checkpoint_dir", str(cfg.tllm_checkpoint_dir), "--output_dir", str(cfg.engine_dir),
            # "auto": the plugins take the checkpoint's dtype.
            "--gemm_plugin", "auto", "--gpt_attention_plugin", "auto",
            # Packed (unpadded) inputs and paged KV cache: what in-flight batching schedules on.
            "--remove_input_padding", "enable", "--kv_cache_type", "paged",
            "--context_fmha", "enable",
            # Context attention over the paged cache: required for KV-cache reuse and chunked context.
            "--use_paged_context_fmha", "enable",
            "--max_batch_size", str(cfg.max_batch_size), "--max_input_len", str(cfg.max_input_len),
            "--max_seq_len", str(cfg.max_seq_len), "--max_num_tokens", str(cfg.max_num_tokens)]


def commands(cfg: EngineBuildConfig) -> list[list[str]]:
    return [CONVERTERS[cfg.precision](cfg), build(cfg)]
