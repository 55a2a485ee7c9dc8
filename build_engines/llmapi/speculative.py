"""Speculative decoding for the LLM API at TensorRT-LLM 1.2.1: the four kinds the PyTorch backend runs.

Each is written to model.yaml's `speculative_config` as upstream's `update_llm_args_with_extra_dict`
reads it: a dict whose `decoding_type` picks the class (`DecodingBaseConfig.from_dict`: MTP, Medusa,
Eagle, Lookahead, NGram, DraftTarget, ...), the other keys that class's fields. Fields, defaults and
the checks below are the 1.2.1 sources' (python_backend/contract/llmapi_fields.json, classes
NGramDecodingConfig, EagleDecodingConfig, MTPDecodingConfig, DraftTargetDecodingConfig; the messages
quoted are TorchLlmArgs' validators there). Medusa and Lookahead are not offered: their
`supports_backend` is False for "pytorch".
"""

from __future__ import annotations

from dataclasses import dataclass


def _positive(kind: str, name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"speculative_config ({kind}): {name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class NGram:
    """Prompt-lookup drafting from an n-gram pool (no draft model); PyTorch backend only."""

    max_draft_len: int
    max_matching_ngram_size: int
    is_keep_all: bool = True
    is_use_oldest: bool = True
    is_public_pool: bool = True

    decoding_type = "NGram"
    extract_class = "NGramDecodingConfig"

    def __post_init__(self) -> None:
        # TorchLlmArgs asserts both are > 0 for NGram.
        _positive(self.decoding_type, "max_draft_len", self.max_draft_len)
        _positive(self.decoding_type, "max_matching_ngram_size", self.max_matching_ngram_size)

    def fields(self) -> dict:
        return {
            "max_draft_len": self.max_draft_len,
            "max_matching_ngram_size": self.max_matching_ngram_size,
            "is_keep_all": self.is_keep_all,
            "is_use_oldest": self.is_use_oldest,
            "is_public_pool": self.is_public_pool,
        }


@dataclass(frozen=True, kw_only=True)
class Eagle3:
    """EAGLE-3: a small draft head trained for the target model, at `speculative_model` (a path the
    server sees, like model.yaml's `model`)."""

    max_draft_len: int
    speculative_model: str
    eagle3_one_model: bool = True

    decoding_type = "Eagle"
    extract_class = "EagleDecodingConfig"

    def __post_init__(self) -> None:
        # "max_draft_len is required for Eagle"; "EAGLE3 draft model must be specified."
        _positive(self.decoding_type, "max_draft_len", self.max_draft_len)
        if not self.speculative_model:
            raise ValueError("speculative_config (Eagle): EAGLE3 draft model must be specified.")

    def fields(self) -> dict:
        return {
            "max_draft_len": self.max_draft_len,
            "speculative_model": self.speculative_model,
            "eagle3_one_model": self.eagle3_one_model,
        }


@dataclass(frozen=True, kw_only=True)
class Mtp:
    """Multi-token prediction with the checkpoint's own MTP layers (DeepSeek-V3 style); PyTorch only.
    TorchLlmArgs sets max_draft_len to num_nextn_predict_layers, so it is not written."""

    num_nextn_predict_layers: int = 1

    decoding_type = "MTP"
    extract_class = "MTPDecodingConfig"

    def __post_init__(self) -> None:
        _positive(self.decoding_type, "num_nextn_predict_layers", self.num_nextn_predict_layers)

    def fields(self) -> dict:
        return {"num_nextn_predict_layers": self.num_nextn_predict_layers}


@dataclass(frozen=True, kw_only=True)
class DraftTarget:
    """A separate smaller model of the same tokenizer drafts; the target verifies."""

    max_draft_len: int
    speculative_model: str

    decoding_type = "DraftTarget"
    extract_class = "DraftTargetDecodingConfig"

    def __post_init__(self) -> None:
        _positive(self.decoding_type, "max_draft_len", self.max_draft_len)
        if not self.speculative_model:
            raise ValueError("speculative_config (DraftTarget): Draft model must be specified.")

    def fields(self) -> dict:
        return {"max_draft_len": self.max_draft_len, "speculative_model": self.speculative_model}


Speculative = NGram | Eagle3 | Mtp | DraftTarget
KINDS = {cls.decoding_type: cls for cls in (NGram, Eagle3, Mtp, DraftTarget)}


def to_yaml(spec: Speculative) -> dict:
    """model.yaml's `speculative_config` mapping: decoding_type first, as upstream's examples write it."""
    return {"decoding_type": spec.decoding_type, **spec.fields()}


def parse(text: str) -> Speculative:
    """The command line's form, `TYPE:key=value,...` (e.g. `NGram:max_draft_len=4,max_matching_ngram_size=2`,
    `Eagle:max_draft_len=3,speculative_model=/models/eagle3`); values are ints, true/false or strings."""
    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise ValueError(f"speculative decoding type {kind!r}: one of {', '.join(KINDS)}")
    values = {}
    for item in filter(None, rest.split(",")):
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"speculative decoding {text!r}: {item!r} is not key=value")
        values[key.strip()] = _value(raw.strip())
    try:
        return KINDS[kind](**values)
    except TypeError as exc:
        raise ValueError(f"speculative decoding {kind}: {exc}") from None


def _value(raw: str):
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return int(raw)
    except ValueError:
        return raw
