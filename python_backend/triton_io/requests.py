"""Triton request tensors → plain Python values, with errors that name the field.

Functions take a `get(name) -> numpy array | None` callable, so they unit-test without Triton
(the model.py adapters pass `lambda n: ...get_input_tensor_by_name(request, n)...`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

import numpy as np

from ..contract.errors import InputError
from ..contract.guides import GUIDE_FIELD, TYPE_FIELD, parse_guide
from ..contract.limits import NUM_RETURN_SEQUENCES, SAMPLING_LIMITS
from ..contract.word_lists import from_word_list
from ..engine.sequence import DEFAULT_SAMPLING, SamplingParams

Getter = Callable[[str], "np.ndarray | None"]
T = TypeVar("T")


def input_getter(pb_utils, request) -> Getter:
    """`get(name)` over a Triton request: the input as a numpy array, or None when absent."""

    def get(name: str):
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    return get


def batch_rows(get: Getter, first_input: str) -> list[Getter]:
    """One getter per row of a batched Triton request (its size: `first_input`'s first dimension;
    Triton has checked that every input has the same), each keeping a leading dimension of 1, so
    `scalar` and friends read one row as they read an unbatched request."""
    array = get(first_input)
    if array is None:
        raise InputError(f"{first_input}: required input is missing")
    return [row_getter(get, index) for index in range(array.shape[0] if array.ndim > 1 else 1)]


def each_row(rows: list[Getter], read: Callable[[Getter], T]) -> list[T]:
    """read(row) for every row; in a batch, an InputError names the batch item it came from."""
    out = []
    for index, row in enumerate(rows):
        try:
            out.append(read(row))
        except InputError as exc:
            raise (InputError(f"batch item {index}: {exc}") if len(rows) > 1 else exc) from None
    return out


def row_getter(get: Getter, index: int) -> Getter:
    """`get` restricted to one batch row, keeping a leading dimension of 1."""

    def get_row(name: str):
        array = get(name)
        return None if array is None else array[index : index + 1]

    return get_row


def model_parameters(args: dict) -> dict[str, str]:
    """config.pbtxt `parameters` of the model being initialized, as plain strings."""
    config = json.loads(args["model_config"])
    return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}


def refuse_request_parameters(
    parameters_json: str, model: str = "ensemble", served: tuple[str, ...] = ()
) -> None:
    """Triton's HTTP generate endpoint turns every JSON key that is not an input into a request
    parameter and passes it on silently, so a misspelt "temprature" would run with the default.
    The ensemble takes only the request parameters in `served`: name the first other one."""
    unknown = sorted(set(json.loads(parameters_json or "{}")) - set(served))
    if unknown:
        raise InputError(f"{unknown[0]}: not an input of this model (GET /v2/models/{model} lists them)")


def scalar(get: Getter, name: str, kind: type, default=None, required: bool = False):
    """The single value of an optional [1] (or [1,1]) input, converted to `kind`."""
    array = get(name)
    if array is None:
        if required:
            raise InputError(f"{name}: required input is missing")
        return default
    if array.size != 1:
        raise InputError(f"{name}: expected one value, got shape {list(array.shape)}")
    value = array.reshape(-1)[0]
    if kind is str:
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        return str(value)
    if kind is bool:
        return bool(value)
    if kind is float:
        value = float(value)
        if not np.isfinite(value):
            raise InputError(f"{name}: must be a finite number, got {value}")
        return value
    return int(value)


def strings(get: Getter, name: str) -> list[str]:
    array = get(name)
    if array is None:
        return []
    out = []
    for item in array.reshape(-1):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{name}: entries must be valid UTF-8") from None
        out.append(str(item))
    return out


def floats(get: Getter, name: str) -> list[float]:
    array = get(name)
    return [] if array is None else [float(v) for v in array.reshape(-1)]


# The engine's sampling inputs (TensorRT-LLM's names) → SamplingParams fields, with their defaults.
# The engine's sampling inputs: (SamplingParams field, type). An absent input takes the field's
# default, stated once in engine/sequence.py's SamplingParams.
SAMPLING_INPUTS = {
    "temperature": ("temperature", float),
    "runtime_top_k": ("top_k", int),
    "runtime_top_p": ("top_p", float),
    "repetition_penalty": ("repetition_penalty", float),
    "presence_penalty": ("presence_penalty", float),
    "frequency_penalty": ("frequency_penalty", float),
    "min_tokens": ("min_tokens", int),
    "seed": ("seed", int),
}


def sampling_params(get: Getter, max_tokens: int, end_id: int | None) -> SamplingParams:
    """The engine's sampling inputs as SamplingParams; InputError names the input and its limit."""
    kwargs = {"max_tokens": SAMPLING_LIMITS["max_tokens"].check("request_output_len", max_tokens)}
    for input_name, (field, kind) in SAMPLING_INPUTS.items():
        value = scalar(get, input_name, kind, getattr(DEFAULT_SAMPLING, field))
        if value is not None and not (field == "top_p" and value == 0.0):
            value = SAMPLING_LIMITS[field].check(input_name, value)
        kwargs[field] = value
    if kwargs["top_p"] == 0.0:  # TensorRT-LLM treats top_p 0 as "not set"; accept the same
        kwargs["top_p"] = 1.0
    return SamplingParams(
        **kwargs,
        end_ids=(end_id,) if end_id is not None and end_id >= 0 else (),
        stop_sequences=_word_list(get, "stop_words_list"),
        bad_sequences=_word_list(get, "bad_words_list"),
        logit_bias=logit_bias(get),
        guide=guide(get),
        return_log_probs=scalar(get, "return_log_probs", bool, False),
        return_generation_logits=scalar(get, "return_generation_logits", bool, False),
        return_context_logits=scalar(get, "return_context_logits", bool, False),
    )


def _word_list(get: Getter, name: str) -> tuple[tuple[int, ...], ...]:
    words = get(name)
    return tuple(tuple(s) for s in from_word_list(words) if s) if words is not None else ()


def logit_bias(get: Getter) -> tuple[tuple[int, float], ...]:
    """TensorRT-LLM's embedding_bias FP32 [vocab] (empty: none) as (token id, value) pairs."""
    bias = get("embedding_bias")
    if bias is None or bias.size == 0:
        return ()
    bias = bias.reshape(-1).astype(np.float32)
    if not np.isfinite(bias).all():
        raise InputError("embedding_bias: values must be finite numbers")
    ids = np.flatnonzero(bias)
    return tuple(zip(ids.tolist(), bias[ids].tolist(), strict=True))


SPECULATIVE_PARAMETER = "speculative_draft_len"


def speculative_draft_len(parameters_json: str) -> int | None:
    """The request parameter `speculative_draft_len` (Triton's request `parameters`, not a tensor:
    tensorrtllm_backend has no such input), or None when absent. 0 turns speculation off for the
    request, 1..MAX_DRAFT_LEN turns it on with that many draft tokens per step."""
    parameters = json.loads(parameters_json or "{}")
    if SPECULATIVE_PARAMETER not in parameters:
        return None
    return SAMPLING_LIMITS["speculative_draft_len"].check(
        SPECULATIVE_PARAMETER, parameters[SPECULATIVE_PARAMETER]
    )


def refuse_beam_search(get: Getter, penalty_input: str = "len_penalty") -> None:
    """TensorRT-LLM's beam inputs: beam_width 1 and length penalty 1.0 (their defaults) are accepted,
    anything else refused by name rather than answered as if it were 1: the CPU engine does not run
    beam search, and on both paths postprocessing decodes beam 0 only. penalty_input: `len_penalty`
    at the engine, `length_penalty` at the ensemble."""
    width = scalar(get, "beam_width", int, 1)
    if width != 1:
        raise InputError(
            f"beam_width: must be 1 (beam search is not served: one beam is decoded), got {width}"
        )
    penalty = scalar(get, penalty_input, float, 1.0)
    if penalty != 1.0:
        raise InputError(f"{penalty_input}: applies to beam search only, which is not served; got {penalty}")


def num_return_sequences(get: Getter) -> int:
    """How many sibling sequences the request asks for (TensorRT-LLM's num_return_sequences)."""
    return NUM_RETURN_SEQUENCES.check("num_return_sequences", scalar(get, "num_return_sequences", int, 1))


def sibling_params(params: SamplingParams, count: int) -> list[SamplingParams]:
    """The params of each of a request's `count` sequences: sibling i draws with seed + i (mod 2**64)
    when the request has a seed, so a seeded request's answers are reproducible and differ."""
    if count == 1 or params.seed is None:
        return [params] * count
    return [replace(params, seed=(params.seed + i) % 2**64) for i in range(count)]


def guide(get: Getter):
    """The request's guided-decoding guide (contract/guides.py), or None."""
    return parse_guide(scalar(get, TYPE_FIELD, str), scalar(get, GUIDE_FIELD, str))
