"""The ContinuousBatchingPipeline of one engine instance, built from the engine's limits and the
export's settings (docs/upstream/openvino-genai.md §1, §3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import openvino as ov
import openvino_genai as genai

from ..engine.config import EngineConfig

# The inference precisions an export may ask for ("": OpenVINO's own choice for the CPU, BF16 where
# the CPU has it) and the KV cache precisions ("": the plugin's default for the paged cache).
INFERENCE_PRECISIONS = ("", "f32", "bf16")
KV_CACHE_PRECISIONS = ("", "f32", "bf16", "f16", "u8")


@dataclass(frozen=True, kw_only=True)
class OpenVINOSettings:
    """model_dir: an optimum-intel export (openvino_model.xml, openvino_tokenizer.xml, config.json);
    inference_precision, kv_cache_precision: CPU plugin hints (INFERENCE_PRECISION_HINT,
    KV_CACHE_PRECISION), "" for the plugin's default."""

    model_dir: Path
    inference_precision: str = ""
    kv_cache_precision: str = ""

    def __post_init__(self) -> None:
        if self.inference_precision not in INFERENCE_PRECISIONS:
            raise ValueError(
                f"inference_precision: {self.inference_precision!r} is not one of {INFERENCE_PRECISIONS}"
            )
        if self.kv_cache_precision not in KV_CACHE_PRECISIONS:
            raise ValueError(
                f"kv_cache_precision: {self.kv_cache_precision!r} is not one of {KV_CACHE_PRECISIONS}"
            )
        if not (self.model_dir / "openvino_model.xml").is_file():
            raise ValueError(f"{self.model_dir}: no openvino_model.xml (python -m build_engines assemble)")

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary (the width of its logits), from the export's config.json."""
        return int(json.loads((self.model_dir / "config.json").read_text())["vocab_size"])


def scheduler_config(config: EngineConfig) -> genai.SchedulerConfig:
    """The pipeline's scheduler under the engine's limits: at most max_num_seqs sequences and
    max_num_batched_tokens tokens a step, long prompts prefilled in chunks (dynamic_split_fuse),
    prefix caching as the engine's. cache_size and num_kv_blocks stay 0: the pipeline then grows
    its paged KV cache as sequences need it rather than reserving it all at start."""
    scheduler = genai.SchedulerConfig()
    scheduler.max_num_seqs = config.max_num_seqs
    scheduler.max_num_batched_tokens = config.max_num_batched_tokens
    scheduler.dynamic_split_fuse = True
    scheduler.enable_prefix_caching = config.prefix_caching
    return scheduler


def properties(config: EngineConfig, settings: OpenVINOSettings) -> dict[str, str]:
    """The CPU plugin's properties for the pipeline's model."""
    props = {}
    if settings.inference_precision:
        props["INFERENCE_PRECISION_HINT"] = settings.inference_precision
    if settings.kv_cache_precision:
        props["KV_CACHE_PRECISION"] = settings.kv_cache_precision
    if config.intra_op_threads:
        props["INFERENCE_NUM_THREADS"] = str(config.intra_op_threads)
    return props


def computes_in(inference_precision: str) -> str:
    """The precision the CPU plugin computes in on this CPU under the hint `inference_precision` (""
    for its default), as the plugin resolves it ("f32", "bf16"): a bf16 hint is dropped for f32
    without an error on a CPU without AVX-512, and the default is bf16 only where the CPU has BF16
    (docs/OPENVINO.md). The plugin resolves the hint when it is set, so no model is compiled."""
    core = ov.Core()
    if inference_precision:
        core.set_property("CPU", {"INFERENCE_PRECISION_HINT": inference_precision})
    return core.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()


def build(config: EngineConfig, settings: OpenVINOSettings) -> genai.ContinuousBatchingPipeline:
    return genai.ContinuousBatchingPipeline(
        str(settings.model_dir), scheduler_config(config), "CPU", properties(config, settings)
    )
