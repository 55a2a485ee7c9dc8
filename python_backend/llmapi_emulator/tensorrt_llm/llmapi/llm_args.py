"""TorchLlmArgs (the LLM(**kwargs) fields) and update_llm_args_with_extra_dict, as in TensorRT-LLM 1.2.1.

Source: NVIDIA/TensorRT-LLM gh-pages 58fb435eacc402f3bd177e60f592c955d2b0719d,
1.2.1/_modules/tensorrt_llm/llmapi/llm_args.html (`class TorchLlmArgs(BaseLlmArgs)`, `LlmArgs =
TorchLlmArgs`, `update_llm_args_with_extra_dict`, `DecodingBaseConfig.from_dict`). Fields and
defaults: the pinned extract (TorchLlmArgs = BaseLlmArgs' fields + its own). Nested configs are typed
with the stand-in's strict models, so a dict given for kv_cache_config, cuda_graph_config, ... is
validated as pydantic validates it upstream (unknown keys refused by name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import field_validator, model_validator

from .._extract import class_facts
from . import config_models as cm

# DecodingBaseConfig.from_dict: decoding_type → class. The extract records the keys it accepts
# (class_facts("DecodingBaseConfig")["from_dict_decoding_types"]); of those, the PyTorch backend
# refuses Medusa and Lookahead (supports_backend returns False for "pytorch"), and the extract holds
# no fields for SaveState, UserProvided or AUTO, so the stand-in cannot construct them.
SPECULATIVE_CLASSES = {
    "Eagle": cm.EagleDecodingConfig,
    "NGram": cm.NGramDecodingConfig,
    "MTP": cm.MTPDecodingConfig,
    "DraftTarget": cm.DraftTargetDecodingConfig,
}
UNSUPPORTED_BACKEND = "Speculation type {decoding_type} does not support backend {backend}"
SpeculativeConfig = (
    cm.EagleDecodingConfig | cm.NGramDecodingConfig | cm.MTPDecodingConfig | cm.DraftTargetDecodingConfig
)


def decoding_config_from_dict(data: dict):
    """DecodingBaseConfig.from_dict: the class named by data["decoding_type"], built from the rest."""
    data = dict(data)
    decoding_type = data.pop("decoding_type", None)
    known = class_facts("DecodingBaseConfig")["from_dict_decoding_types"]
    if decoding_type not in known:
        raise ValueError(f"Invalid decoding type: {decoding_type}")
    if decoding_type in ("Medusa", "Lookahead"):
        raise ValueError(UNSUPPORTED_BACKEND.format(decoding_type=decoding_type, backend="pytorch"))
    if decoding_type not in SPECULATIVE_CLASSES:
        raise ValueError(
            f"speculative_config: decoding_type {decoding_type!r} is not in the stand-in's extract "
            "(no fields were extracted for it)"
        )
    return SPECULATIVE_CLASSES[decoding_type](**data)


NESTED = {
    "kv_cache_config": cm.KvCacheConfig,
    "cuda_graph_config": cm.CudaGraphConfig | None,
    "scheduler_config": cm.SchedulerConfig,
    "moe_config": cm.MoeConfig,
    "nvfp4_gemm_config": cm.Nvfp4GemmConfig,
    "attention_dp_config": cm.AttentionDpConfig | None,
    "peft_cache_config": cm.PeftCacheConfig | None,
    "torch_compile_config": cm.TorchCompileConfig | None,
    "lora_config": cm.LoraConfig | None,
    "speculative_config": SpeculativeConfig | None,
    # The fields the stand-in maps onto the CPU engine carry their upstream types.
    "model": str | Path,
    "skip_tokenizer_init": bool,
    "tensor_parallel_size": int,
    "pipeline_parallel_size": int,
    "enable_chunked_prefill": bool,
    "max_batch_size": int | None,
    "max_seq_len": int | None,
    "max_num_tokens": int | None,
    "stream_interval": int,
    "enable_iter_perf_stats": bool,
    "return_perf_metrics": bool,
}


class _TorchLlmArgsBase(cm.StrictBaseModel):
    @field_validator("speculative_config", mode="before", check_fields=False)
    @classmethod
    def _dispatch_speculative(cls, value: Any):
        return decoding_config_from_dict(value) if isinstance(value, dict) else value

    @field_validator("load_format", mode="before", check_fields=False)
    @classmethod
    def _upper_load_format(cls, value: Any):
        # TorchLlmArgs.convert_load_format: strings are upper-cased into LoadFormat.
        return value.upper() if isinstance(value, str) else value

    @field_validator("stream_interval", check_fields=False)
    @classmethod
    def _positive_stream_interval(cls, value: int):
        if value <= 0:
            raise ValueError(f"stream_interval must be positive, got {value}")
        return value

    @model_validator(mode="after")
    def _validate_misc(self):
        # TorchLlmArgs.validate_misc: max_batch_size None → 2048, max_beam_width None → 1;
        # BaseLlmArgs.set_default_max_input_len: None → 1024.
        if self.max_batch_size is None:
            self.max_batch_size = 2048
        if self.max_beam_width is None:
            self.max_beam_width = 1
        if self.max_input_len is None:
            self.max_input_len = 1024
        if self.backend is None:
            self.backend = "pytorch"  # TorchLlmArgs.init_backend
        graphs = self.cuda_graph_config
        if graphs is not None and graphs.batch_sizes and graphs.max_batch_size:
            if max(graphs.batch_sizes) != graphs.max_batch_size:
                raise ValueError(
                    "Please don't set both cuda_graph_config.batch_sizes and "
                    "cuda_graph_config.max_batch_size."
                )
        return self


TorchLlmArgs = cm.create_model(
    "TorchLlmArgs",
    __base__=_TorchLlmArgsBase,
    __doc__="TensorRT-LLM 1.2.1 TorchLlmArgs: the LLM(**kwargs) fields, from the pinned extract.",
    **cm.model_fields("TorchLlmArgs", cm.FACTORIES, overrides=NESTED),
)
TorchLlmArgs.__module__ = __name__
LlmArgs = TorchLlmArgs


def update_llm_args_with_extra_dict(llm_args: dict, llm_args_dict: dict, extra_llm_api_options=None) -> dict:
    """Upstream's merge of a model.yaml dict into LLM kwargs: kv_cache_config is deep-merged and the
    speculative config dispatched on decoding_type; the other nested dicts are left for pydantic to
    validate into their (extra-forbidding) models when TorchLlmArgs is built, which refuses the same
    unknown keys upstream's explicit conversions would."""
    merged = {**llm_args, **llm_args_dict}
    if "kv_cache_config" in llm_args and "kv_cache_config" in llm_args_dict:
        base = llm_args["kv_cache_config"]
        base = base.model_dump() if hasattr(base, "model_dump") else dict(base)
        merged["kv_cache_config"] = {**base, **dict(llm_args_dict["kv_cache_config"])}
    if isinstance(merged.get("speculative_config"), dict):
        merged["speculative_config"] = decoding_config_from_dict(merged["speculative_config"])
    return merged
