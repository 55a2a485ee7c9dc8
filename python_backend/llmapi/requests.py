"""One Triton request's tensors → the LLM-API requests the engine model submits, one per batch row.

Input: `get(name)` returning each input as numpy with the batch dimension first (None when absent).
Output: ParsedRequest: one RowRequest per batch row (the C++ backend splits a batched Triton request
into one executor request per row, and so does this model), the request-wide `streaming` and `stop`
(first element, as getRequestBooleanInputTensor reads them) and the flags that decide the outputs.

The reading is the C++ backend's, by the same code (triton_io/executor_inputs.py, triton_io/
requests.py): the executor's defaults for absent sampling inputs (temperature 1.0, top_k 0 with
top_p 0 meaning greedy, seed 0), then the CPU engine's limits. Its refusals raise EnqueueError with
the same messages, answered INTERNAL as the C++ backend answers every enqueue failure.

What the LLM API of TensorRT-LLM 1.2.1 cannot express raises Unsupported (answered INVALID_ARG),
naming the input: every input of the `tensorrt_llm` model that this module does not read
(prompt tables, draft and encoder inputs, retention, lookahead, ...), LoRA weights sent with the
request (lora_task_id / lora_weights / lora_config: the LLM API takes adapters by path, lora.py),
beam search
(triton_requests.refuse_beam_search, the project's one message for it), and multi-token bad words
(SamplingParams.bad_token_ids takes single tokens; `bad` takes strings, which need a tokenizer the
engine model does not load: sampling.py says more).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..contract import trtllm_backend as bc
from ..contract.errors import InputError
from ..contract.llmapi_fields import pinned_version
from ..engine.sequence import SamplingParams
from ..triton_io import requests as triton_requests
from ..triton_io.executor_inputs import (
    MISSING_INPUT_IDS,
    MISSING_OUTPUT_LEN,
    EnqueueError,
    first_bool,
    output_flags,
    with_executor_defaults,
)
from .lora import BY_PATH, TASK_INPUTS

Getter = Callable[[str], "np.ndarray | None"]

# The `tensorrt_llm` inputs this model reads; every other one, when sent, is refused by name.
READ = frozenset(
    {
        *bc.REQUEST_NEEDS,
        *bc.CONTROL_INPUTS,
        "input_lengths",
        "end_id",
        "pad_id",
        "stop_words_list",
        "bad_words_list",
        "embedding_bias",
        "num_return_sequences",
        "beam_width",
        "len_penalty",
        "exclude_input_in_output",
        "guided_decoding_guide_type",
        "guided_decoding_guide",
        *triton_requests.SAMPLING_INPUTS,
        *(o.flag for o in bc.OUTPUTS.values() if o.flag),
    }
)
UNSUPPORTED = tuple(name for name in bc.INPUTS if name not in READ and name not in TASK_INPUTS)
LORA_NAME = "lora_name"  # ours (not a `tensorrt_llm` input): the adapter by name, lora.py
UNSUPPORTED_INPUT = (
    "{name}: not served by the LLM-API engine model (TensorRT-LLM {version}'s LLM API over token ids)"
)
MULTI_TOKEN_BAD_WORD = (
    "bad_words_list: a bad word of {length} tokens; the LLM-API engine model bans single tokens only "
    "(SamplingParams.bad_token_ids; its string form `bad` needs a tokenizer)"
)


class Unsupported(InputError):
    """A request the LLM API cannot express: answered INVALID_ARG, naming the input."""


@dataclass(frozen=True, kw_only=True)
class RowRequest:
    """One batch row: what becomes one (or, with num_return_sequences, several) generate_async calls."""

    prompt: list[int]
    params: SamplingParams  # the engine's, as the C++ path reads them (executor defaults applied)
    exclude_input_in_output: bool
    end_id: int | None  # None or negative: no end token
    pad_id: int | None
    embedding_bias: np.ndarray | None  # FP32 [vocab] as sent; None when absent or empty
    lora_name: str | None = None  # the row's adapter (lora.py resolves it); None: the base model


@dataclass(frozen=True)
class ParsedRequest:
    rows: list[RowRequest] = field(default_factory=list)
    streaming: bool = False
    stop: bool = False
    flags: dict = field(default_factory=dict)

    @property
    def num_return_sequences(self) -> int:
        return int(self.flags.get("num_return_sequences", 1))


def parse(get: Getter, *, exclude_input_default: bool) -> ParsedRequest:
    """The request's rows; EnqueueError (INTERNAL) or Unsupported (INVALID_ARG) when refused."""
    if first_bool(get, "stop"):
        return ParsedRequest(stop=True)
    ids = get("input_ids")
    if ids is None:
        raise EnqueueError(MISSING_INPUT_IDS)
    if get("request_output_len") is None:
        raise EnqueueError(MISSING_OUTPUT_LEN)
    for name in TASK_INPUTS:
        if get(name) is not None:
            raise Unsupported(BY_PATH.format(name=name))
    for name in UNSUPPORTED:
        if get(name) is not None:
            raise Unsupported(UNSUPPORTED_INPUT.format(name=name, version=pinned_version()))
    ids = ids.reshape(ids.shape[0], -1) if ids.ndim > 1 else ids.reshape(1, -1)
    rows = [
        _row(triton_requests.row_getter(get, index), ids[index], exclude_input_default)
        for index in range(ids.shape[0])
    ]
    return ParsedRequest(rows, first_bool(get, "streaming"), False, output_flags(get, len(rows)))


def _row(row: Getter, ids: np.ndarray, exclude_input_default: bool) -> RowRequest:
    try:
        triton_requests.refuse_beam_search(row)
    except InputError as exc:
        raise Unsupported(str(exc)) from None
    try:  # the C++ path's reading, in the emulator's order (trtllm_emulator/executor_requests.py)
        triton_requests.num_return_sequences(row)
        length = triton_requests.scalar(row, "input_lengths", int, ids.shape[0])
        end_id = triton_requests.scalar(row, "end_id", int, None)
        params = triton_requests.sampling_params(
            with_executor_defaults(row),
            triton_requests.scalar(row, "request_output_len", int, required=True),
            end_id,
        )
        exclude = triton_requests.scalar(row, "exclude_input_in_output", bool, exclude_input_default)
        pad_id = triton_requests.scalar(row, "pad_id", int, None)
    except ValueError as exc:
        raise EnqueueError(str(exc)) from None
    try:
        lora_name = triton_requests.scalar(row, LORA_NAME, str, None) or None  # "": the base model
    except InputError as exc:
        raise Unsupported(str(exc)) from None
    for word in params.bad_sequences:
        if len(word) > 1:
            raise Unsupported(MULTI_TOKEN_BAD_WORD.format(length=len(word)))
    bias = row("embedding_bias")
    return RowRequest(
        prompt=ids[:length].tolist(),
        params=params,
        exclude_input_in_output=exclude,
        end_id=end_id,
        pad_id=pad_id,
        embedding_bias=None if bias is None or bias.size == 0 else bias.reshape(-1).astype(np.float32),
        lora_name=lora_name,
    )
