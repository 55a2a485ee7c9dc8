"""A preprocessing request's inputs → the engine step's input tensors (TensorRT-LLM's names).

A Triton request may carry a batch of B prompts (tensorrtllm_backend's clients may send one: the
ensemble has max_batch_size > 0). Each row is read and checked on its own, then the rows are stacked
into one response whose every output has B rows. Ragged outputs are padded to the longest row, the
way the engine reads them back: input_ids with the row's pad id (input_lengths says where the prompt
ends), word lists with id 0 and offset -1 (an offset of -1 ends TensorRT-LLM's word list),
embedding_bias with zeros (no bias). An error in row i > 0 of a batch names the row. A prompt comes
as text (text_input) or as token ids (input_token_ids, whose shorter rows in a batch end in
text/tokenizer.py's TOKEN_ID_PADDING); OpenAI's logit_bias comes as logit_bias_token_ids / _values and
is added into embedding_bias with the bias words.

What the engine behind the repository needs and can return is EngineTraits, read from
preprocessing's config parameters.

Preprocessing also decides what the engine samples with and what guide it gets: the client's
temperature / top_k / top_p / seed become four explicit engine inputs (contract/sampling.py: the
ensemble's one sampling meaning, whatever the engine's defaults), and a guide is compiled here and
sent in the form the engine should run (guide_check.py); no guide is an empty guide type, which both
engines read as none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..contract.errors import InputError
from ..contract.sampling import ENGINE_INPUTS, engine_sampling
from ..contract.word_lists import to_word_list
from ..text.tokenizer import Preprocessor
from . import requests as req
from .guide_check import GuideCheck

WORD_LIST_PADDING = np.asarray([[0], [-1]], dtype=np.int32)  # per row of TensorRT-LLM's [2, N] format


@dataclass(frozen=True)
class EngineTraits:
    """What the engine behind this repository needs and can return; preprocessing's parameters
    (PARAMETERS), written by `make repo` / `make gpu-repo`. The defaults are our CPU engine's.
    - needs_perf_metrics: return_perf_metrics on every request (TensorRT-LLM writes arrival_time_ns,
      postprocessing's key, only with it); a request's `false` is refused.
    - generation_logits / context_logits: the engine can return them (a TensorRT-LLM engine only
      when built with trtllm-build --gather_generation_logits / --gather_context_logits); a request
      for the others is refused.
    - prompt_lookup: the engine takes the request parameter speculative_draft_len (our CPU engine's
      prompt-lookup speculation); TensorRT-LLM chooses speculative decoding when the engine is
      built and would ignore it, so there it is refused.
    - lookahead: the engine runs lookahead decoding (gpu-repo writes it), so guides are refused
      (guide_check.py)."""

    needs_perf_metrics: bool = False
    generation_logits: bool = True
    context_logits: bool = True
    prompt_lookup: bool = True
    lookahead: bool = False

    # field -> (config parameter, its default in config.pbtxt)
    PARAMETERS = {
        "needs_perf_metrics": ("always_return_perf_metrics", "true"),
        "generation_logits": ("gather_generation_logits", "true"),
        "context_logits": ("gather_context_logits", "true"),
        "prompt_lookup": ("prompt_lookup_speculation", "true"),
        "lookahead": ("lookahead_decoding", "false"),
    }

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> EngineTraits:
        values = {}
        for field, (name, default) in cls.PARAMETERS.items():
            value = params.get(name, default)
            if value not in ("true", "false"):
                raise ValueError(f'preprocessing parameter {name} must be "true" or "false", got {value!r}')
            values[field] = value == "true"
        return cls(**values)

    def parameters(self) -> dict[str, str]:
        """The config parameters that say these traits (the assembly writes them)."""
        return {name: str(getattr(self, field)).lower() for field, (name, _) in self.PARAMETERS.items()}

    def check_request_parameters(self, parameters_json: str) -> None:
        """Triton request parameters: speculative_draft_len where served and in range, no other."""
        if not self.prompt_lookup and req.SPECULATIVE_PARAMETER in json.loads(parameters_json or "{}"):
            raise InputError(
                f"{req.SPECULATIVE_PARAMETER}: per-request speculation is not served by a TensorRT-LLM "
                "engine (its speculative decoding is chosen when the engine is built)"
            )
        req.refuse_request_parameters(parameters_json, served=(req.SPECULATIVE_PARAMETER,))
        req.speculative_draft_len(parameters_json)


CPU_ENGINE = EngineTraits()
# The OpenVINO engine (python_backend/openvino): its pipeline returns no logits and speculates only
# when built for it, so those requests are refused at preprocessing, by name.
OPENVINO_ENGINE = EngineTraits(generation_logits=False, context_logits=False, prompt_lookup=False)
TENSORRT_LLM = EngineTraits(
    needs_perf_metrics=True, prompt_lookup=False
)  # and the logits its build gathered (gpu-repo)
# request flag -> (the `make engines GATHER_LOGITS=` value that adds it, the output)
_LOGITS_FLAGS = {
    "return_generation_logits": ("generation", "generation_logits"),
    "return_context_logits": ("context", "context_logits"),
}


def engine_inputs(
    pre: Preprocessor,
    get: req.Getter,
    traits: EngineTraits = CPU_ENGINE,
    guides: GuideCheck | None = None,
) -> dict[str, np.ndarray]:
    """Every engine input preprocessing computes, batch dim first. InputError names the field.
    guides: the repository's guide compiler; None: one with compact JSON whitespace."""
    guides = guides or GuideCheck(pre.tokenizer, pre.end_ids, pre.vocab_size, json_whitespace="compact")
    if get("text_input") is None and get("input_token_ids") is None:
        raise InputError(
            "text_input: required input is missing (or send the prompt's token ids as input_token_ids)"
        )
    rows = req.batch_rows(get, "text_input" if get("text_input") is not None else "input_token_ids")
    return stack(req.each_row(rows, lambda row: _one_row(pre, row, traits, guides)))


def refuse_unserved_logits(get: req.Getter, traits: EngineTraits) -> None:
    """return_*_logits = true for logits the engine was built without is an InputError naming the field and
    the rebuild (TensorRT-LLM's executor would fail the request at enqueue, after the ensemble started)."""
    for field, (kind, output) in _LOGITS_FLAGS.items():
        if req.scalar(get, field, bool, False) and not getattr(traits, output):
            raise InputError(
                f"{field}: this repository's engine was built without --gather_{output}, so it cannot "
                f"return {output}; rebuild it with `make engines GATHER_LOGITS={kind}` (or "
                "GATHER_LOGITS=all) and reassemble with `make gpu-repo`"
            )


def sampling_inputs(get: req.Getter) -> dict[str, np.ndarray]:
    """The client's sampling inputs → the engine's, explicit (contract/sampling.py)."""
    sampling = engine_sampling(
        req.scalar(get, "temperature", float),
        req.scalar(get, "top_k", int),
        req.scalar(get, "top_p", float),
        req.scalar(get, "seed", int),
    )
    return {name: np.asarray([[v]], dtype=ENGINE_INPUTS[name]) for name, v in sampling.inputs().items()}


def guide_inputs(get: req.Getter, traits: EngineTraits, guides: GuideCheck) -> dict[str, np.ndarray]:
    """The engine's two guide inputs (empty strings: no guide), compiled first (guide_check.py)."""
    guide = guides.engine_guide(req.guide(get), lookahead=traits.lookahead)
    kind, text = (guide.kind, guide.guide) if guide is not None else ("", "")
    return {
        "out_guided_decoding_guide_type": np.asarray([[kind.encode()]], dtype=np.object_),
        "out_guided_decoding_guide": np.asarray([[text.encode()]], dtype=np.object_),
    }


def prompt_ids(pre: Preprocessor, get: req.Getter) -> list[int]:
    """The prompt's token ids: text_input tokenized, or input_token_ids as sent (checked against the
    vocabulary and the context; a batch's shorter rows end in TOKEN_ID_PADDING). Exactly one of the two."""
    token_ids = get("input_token_ids")
    if token_ids is None:
        text = req.scalar(get, "text_input", str, required=True)
        return pre.encode(text, req.scalar(get, "apply_chat_template", bool, False))
    if get("text_input") is not None:
        raise InputError("input_token_ids: send the prompt as text_input or as input_token_ids, not both")
    if req.scalar(get, "apply_chat_template", bool, False):
        raise InputError(
            "apply_chat_template: applies to text_input only; input_token_ids are the prompt as the "
            "engine runs it"
        )
    return pre.token_prompt(token_ids.reshape(-1).tolist(), "input_token_ids")


def _ints(get: req.Getter, name: str) -> list[int]:
    array = get(name)
    return [] if array is None else [int(v) for v in array.reshape(-1)]


def _one_row(
    pre: Preprocessor, get: req.Getter, traits: EngineTraits, guides: GuideCheck
) -> dict[str, np.ndarray]:
    ids = prompt_ids(pre, get)
    max_tokens = req.scalar(get, "max_tokens", int, required=True)
    pre.check_max_tokens(max_tokens, len(ids))
    end_id = req.scalar(get, "end_id", int, pre.end_ids[0])
    pad_id = req.scalar(get, "pad_id", int, pre.pad_id)
    stop = pre.stop_sequences(req.strings(get, "stop_words"), end_id)
    bad = pre.word_sequences(req.strings(get, "bad_words"), "bad_words")
    bias = pre.embedding_bias(
        req.strings(get, "embedding_bias_words"),
        req.floats(get, "embedding_bias_weights"),
        _ints(get, "logit_bias_token_ids"),
        req.floats(get, "logit_bias_values"),
    )
    # Checked here only: the ensemble hands these to the engine itself.
    req.refuse_beam_search(get, penalty_input="length_penalty")
    req.num_return_sequences(get)
    refuse_unserved_logits(get, traits)
    perf_metrics = req.scalar(get, "return_perf_metrics", bool, None)
    if traits.needs_perf_metrics and perf_metrics is False:
        raise InputError(
            "return_perf_metrics: false is not served by this repository: its engine returns "
            "arrival_time_ns, which postprocessing needs, only with return_perf_metrics, so every "
            "response carries the perf outputs"
        )
    return {
        "input_ids": np.asarray([ids], dtype=np.int32),
        "input_lengths": np.asarray([[len(ids)]], dtype=np.int32),
        "request_output_len": np.asarray([[max_tokens]], dtype=np.int32),
        "stop_words_list": to_word_list(stop)[None],
        "bad_words_list": to_word_list(bad)[None],
        "out_end_id": np.asarray([[end_id]], dtype=np.int32),
        "out_pad_id": np.asarray([[pad_id]], dtype=np.int32),
        "out_return_perf_metrics": np.asarray(
            [[traits.needs_perf_metrics or bool(perf_metrics)]], dtype=np.bool_
        ),
        "embedding_bias": bias[None],
        **{f"out_{name}": value for name, value in sampling_inputs(get).items()},
        **guide_inputs(get, traits, guides),
    }


def stack(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Rows of one row each (leading dim 1) → one batch, ragged last dims padded (module docstring)."""
    if len(rows) == 1:
        return rows[0]
    out = {}
    for name in rows[0]:
        width = max(row[name].shape[-1] for row in rows)
        out[name] = np.concatenate([_pad(row[name], width, _padding(name, row)) for row in rows])
    return out


def _padding(name: str, row: dict[str, np.ndarray]):
    if name == "input_ids":
        return int(row["out_pad_id"].reshape(-1)[0])
    if name in ("stop_words_list", "bad_words_list"):
        return WORD_LIST_PADDING
    return 0


def _pad(array: np.ndarray, width: int, fill) -> np.ndarray:
    missing = width - array.shape[-1]
    if missing == 0:
        return array
    padding = np.broadcast_to(np.asarray(fill, dtype=array.dtype), (*array.shape[:-1], missing))
    return np.concatenate([array, padding], axis=-1)
