"""SamplingParams and GuidedDecodingParams of TensorRT-LLM 1.2.1: slots, keyword-only dataclasses whose
fields and defaults are the pinned extract's, so an unknown keyword fails as upstream's does
("SamplingParams.__init__() got an unexpected keyword argument ...") and no attribute can be added.

Behaviour follows NVIDIA/TensorRT-LLM gh-pages 58fb435eacc402f3bd177e60f592c955d2b0719d,
1.2.1/_modules/tensorrt_llm/sampling_params.html (docs/upstream/trtllm-llm-api.md c): __post_init__
(pad_id None → end_id; best_of = best_of or n; embedding_bias → a float32 torch tensor), then
_validate with upstream's messages, word for word; params_imply_greedy_decoding is the greedy rule.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import torch

from ._extract import fields

GREEDY_N_ENV = "TLLM_ALLOW_N_GREEDY_DECODING"


def _spec(cls: str) -> list[tuple[str, Any, dataclasses.Field]]:
    return [(name, Any, dataclasses.field(default=facts["default"])) for name, facts in fields(cls).items()]


def _guided_validate(self) -> None:
    num_guides = sum(bool(getattr(self, f.name)) for f in dataclasses.fields(self))
    if num_guides > 1:
        raise ValueError(f"Only one guide can be used for a request, but got {num_guides}.")


GuidedDecodingParams = dataclasses.make_dataclass(
    "GuidedDecodingParams",
    _spec("GuidedDecodingParams"),
    namespace={
        "__doc__": "Guided decoding: at most one of json, regex, grammar, json_object, structural_tag.",
        "_validate": _guided_validate,
    },
    slots=True,
    kw_only=True,
)

GuidedDecodingParams.__module__ = __name__


def params_imply_greedy_decoding(*, temperature, top_p, top_k) -> bool:
    return (
        (temperature is None and top_p is None and top_k is None)
        or top_k == 1
        or top_p == 0.0
        or temperature == 0
    )


def _post_init(self) -> None:
    if self.pad_id is None:
        self.pad_id = self.end_id
    self.best_of = self.best_of or self.n
    if self.embedding_bias is not None:
        if isinstance(self.embedding_bias, torch.Tensor):
            self.embedding_bias = self.embedding_bias.detach().clone()
        else:
            self.embedding_bias = torch.tensor(self.embedding_bias, dtype=torch.float32)
    self._validate()


def _validate(self) -> None:
    if self.top_p is not None and (self.top_p < 0 or self.top_p > 1):
        raise ValueError(f"require 0 <= top_p <= 1, got top_p={self.top_p}")
    if self.top_k is not None and self.top_k < 0:
        raise ValueError(f"require top_k >= 0, got top_k={self.top_k}")
    if self.temperature is not None and self.temperature < 0:
        raise ValueError(f"require temperature >= 0, got temperature={self.temperature}")
    if self.best_of is not None and self.best_of < self.n:
        raise ValueError(f"best_of ({self.best_of}) cannot be less than n ({self.n})")
    if (
        self.best_of is not None
        and self.best_of > 1
        and self._greedy_decoding
        and not os.environ.get(GREEDY_N_ENV)
    ):
        raise ValueError(
            f"Greedy decoding in the LLM API does not allow multiple "
            f"returns. Please set to best_of=1, got best_of={self.best_of}. "
            f"Please set to best_of=1 or set an environment variable "
            f"TLLM_ALLOW_N_GREEDY_DECODING=1 to allow best_of > 1 "
            f"under the greedy decoding."
        )
    if self.truncate_prompt_tokens is not None and self.truncate_prompt_tokens < 1:
        raise ValueError(f"truncate_prompt_tokens must be >= 1, got {self.truncate_prompt_tokens}")
    if self.guided_decoding is not None:
        self.guided_decoding._validate()
    # upstream: "correct types as users might pass in logprob=True for Top-1 logprobs"
    self.logprobs = self.logprobs and int(self.logprobs)
    self.prompt_logprobs = self.prompt_logprobs and int(self.prompt_logprobs)


def _greedy_decoding(self) -> bool:
    return not self.use_beam_search and params_imply_greedy_decoding(
        temperature=self.temperature, top_p=self.top_p, top_k=self.top_k
    )


def guide_text(guided) -> tuple[str, str]:
    """(guide type, guide) as _get_guided_decoding_params maps them: json_object → JSON, json →
    JSON_SCHEMA (a dict or pydantic model dumped to JSON text), regex → REGEX, grammar → EBNF_GRAMMAR,
    structural_tag → STRUCTURAL_TAG."""
    if guided.json_object:
        return "json_object", ""
    if guided.json is not None:
        schema = guided.json
        if hasattr(schema, "model_json_schema"):
            schema = schema.model_json_schema()
        return "json", json.dumps(schema) if isinstance(schema, dict) else schema
    for name in ("regex", "grammar", "structural_tag"):
        if getattr(guided, name) is not None:
            return name, getattr(guided, name)
    return "", ""


SamplingParams = dataclasses.make_dataclass(
    "SamplingParams",
    _spec("SamplingParams"),
    namespace={
        "__doc__": (
            "Sampling parameters for text generation (TensorRT-LLM 1.2.1). If neither temperature, "
            "top_p, nor top_k are specified, sampling is greedy; seed None means the runtime default 0."
        ),
        "__post_init__": _post_init,
        "_validate": _validate,
        "_greedy_decoding": property(_greedy_decoding),
        "params_imply_greedy_decoding": staticmethod(params_imply_greedy_decoding),
    },
    slots=True,
    kw_only=True,
)
SamplingParams.__module__ = __name__
