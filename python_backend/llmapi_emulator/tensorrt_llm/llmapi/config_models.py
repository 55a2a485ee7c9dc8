"""Pydantic models for TensorRT-LLM 1.2.1's LLM-argument config classes, built from the pinned extract.

Upstream (NVIDIA/TensorRT-LLM gh-pages 58fb435eacc402f3bd177e60f592c955d2b0719d,
1.2.1/_modules/tensorrt_llm/llmapi/llm_args.html) derives every config class from
`StrictBaseModel` (`model_config = ConfigDict(extra="forbid")`), so an unknown key fails with
pydantic's own "Extra inputs are not permitted" error naming it. The stand-in builds the same kind
of model: exactly the extract's fields, the extract's defaults, extra="forbid". Fields listed with
"choices" are typed as those literals (pydantic then refuses other values by name); the fields the
stand-in maps onto the CPU engine carry their upstream types (TYPES). The extract carries no types for
the rest, so they are typed by their default (BY_DEFAULT): a bool default takes a bool, a number a
number (an int default may stand for a float field, e.g. batch_wait_max_tokens_ratio=0), a string a
string, each also None (upstream may declare it Optional); a field defaulting to None takes anything.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model, field_validator

from .._extract import REQUIRED, class_facts, factory_name, fields, resolve_default


class StrictBaseModel(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


# Upstream annotations of the fields the stand-in reads (1.2.1 llm_args.html).
TYPES: dict[str, dict[str, Any]] = {
    "KvCacheConfig": {
        "enable_block_reuse": bool,
        "max_tokens": int | None,
        "free_gpu_memory_fraction": float | None,
        "tokens_per_block": int,
    },
    "CudaGraphConfig": {
        "batch_sizes": list[int] | None,
        "max_batch_size": int,
        "enable_padding": bool,
    },
    "NGramDecodingConfig": {"max_draft_len": int | None, "max_matching_ngram_size": int},
}

# A field's type from its default's, for the fields TYPES does not name (bool before int: a bool is an int).
BY_DEFAULT = (
    (bool, bool | None),
    ((int, float), int | float | None),
    (str, str | None),
    (list, list | None),
)

# Fields whose validators the extract records with their messages (class_facts(...)["validators"]).
KV_FRACTION_MESSAGE = "kv_cache_config.free_gpu_memory_fraction must be a float between 0 and 1"
CUDA_GRAPH_BATCH_MESSAGE = "cuda_graph_config.max_batch_size must be non-negative"


def annotation(cls: str, name: str, facts: dict, default: Any) -> Any:
    if name in TYPES.get(cls, {}):
        return TYPES[cls][name]
    choices = facts.get("choices")
    if choices and all(isinstance(c, str) for c in choices) and not isinstance(default, list):
        kind = Literal[tuple(choices)]
        return kind | None if default is None else kind
    for kind, accepted in BY_DEFAULT:
        if isinstance(default, kind):
            return accepted
    return Any


def model_fields(cls: str, factories: dict, overrides: dict | None = None) -> dict[str, tuple]:
    """(annotation, FieldInfo) per extract field of `cls`; overrides replace a field's annotation."""
    out: dict[str, tuple] = {}
    for name, facts in fields(cls).items():
        default = resolve_default(cls, name, factories)
        kind = (overrides or {}).get(name) or annotation(cls, name, facts, default)
        aliases = facts.get("aliases")
        extra: dict[str, Any] = {}
        if aliases:
            extra["validation_alias"] = AliasChoices(*aliases)
        if "alias" in facts:
            extra["validation_alias"] = AliasChoices(facts["alias"], name)
        if default == REQUIRED:
            out[name] = (kind, Field(**extra))
        elif factory_name(facts["default"]) is not None:
            out[name] = (kind, Field(default_factory=default, **extra))
        else:
            out[name] = (kind, Field(default=default, **extra))
    return out


def build(cls: str, factories: dict | None = None, base=StrictBaseModel, **validators) -> type[BaseModel]:
    """A strict pydantic model named like the upstream class, from the extract."""
    model = create_model(
        cls,
        __base__=base,
        __validators__=validators or None,
        __doc__=f"TensorRT-LLM {cls}: fields and defaults from the extract ({class_facts(cls)['path']})",
        **model_fields(cls, factories or {}),
    )
    model.__module__ = __name__
    return model


@field_validator("free_gpu_memory_fraction")
def _kv_fraction(cls, value):
    if value is not None and not 0 <= value <= 1:
        raise ValueError(KV_FRACTION_MESSAGE)
    return value


@field_validator("max_batch_size")
def _cuda_graph_batch(cls, value):
    if value < 0:
        raise ValueError(CUDA_GRAPH_BATCH_MESSAGE)
    return value


KvCacheConfig = build("KvCacheConfig", free_gpu_memory_fraction_check=_kv_fraction)
CudaGraphConfig = build("CudaGraphConfig", max_batch_size_check=_cuda_graph_batch)
SchedulerConfig = build("SchedulerConfig")
MoeConfig = build("MoeConfig")
Nvfp4GemmConfig = build("Nvfp4GemmConfig")
AttentionDpConfig = build("AttentionDpConfig")
PeftCacheConfig = build("PeftCacheConfig")
TorchCompileConfig = build("TorchCompileConfig")
LoraConfig = build("LoraConfig")

# The speculative configs the PyTorch backend serves (DecodingBaseConfig.from_dict's keys; Medusa and
# Lookahead return False from supports_backend("pytorch"), see llm_args.py).
EagleDecodingConfig = build("EagleDecodingConfig")
NGramDecodingConfig = build("NGramDecodingConfig")
MTPDecodingConfig = build("MTPDecodingConfig")
DraftTargetDecodingConfig = build("DraftTargetDecodingConfig")

FACTORIES = {
    "KvCacheConfig": KvCacheConfig,
    "CudaGraphConfig": CudaGraphConfig,
    "SchedulerConfig": SchedulerConfig,
    "MoeConfig": MoeConfig,
    "Nvfp4GemmConfig": Nvfp4GemmConfig,
}
