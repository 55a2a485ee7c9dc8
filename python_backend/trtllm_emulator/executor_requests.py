"""One Triton request's input tensors → the executor requests the backend would make of it.

Input: `get(name)` returning each input as numpy with the batch dimension first (None when absent).
Output: ParsedRequest with one ItemInput per batch row (the backend splits a batched Triton request
into one executor request per row; utils.cc createRequestsFromInputTensors), the request-wide
`streaming` and `stop` (read as the first element of the tensor, as getRequestBooleanInputTensor
does), and the flags that decide the outputs (backend_contract.outputs_written). A request the
backend would refuse before enqueueing raises EnqueueError with the backend's message.

Sampling inputs are read as the executor reads them, its defaults for the absent ones included
(temperature 1.0, top_k 0 with top_p 0 meaning greedy, seed 0: contract/trtllm_backend/executor.py),
then checked by the CPU engine's own limits (python_backend/contract), standing in for the
executor's checks; their failures are EnqueueErrors too (the backend answers every enqueue failure
the same way: one output-less final response carrying an INTERNAL error). The embedding bias's
length is kept for the executor's check inside its step (backend.py), a row's lora_task_id /
lora_weights / lora_config for the PEFT cache (peft_cache.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

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

Getter = Callable[[str], "np.ndarray | None"]

ONE_ONLY = ("beam_width",)


@dataclass(frozen=True)
class ItemInput:
    prompt: list[int]
    params: SamplingParams
    exclude_input_in_output: bool
    bias_size: int = 0  # embedding_bias's length (0: none); the executor checks it in its step
    lora: LoraInput | None = None  # lora_task_id given: the PEFT cache's business (peft_cache.py)


@dataclass(frozen=True)
class LoraInput:
    """A row's lora_task_id and, the first time, its lora_weights / lora_config (as sent, batch dim 1).
    Without lora_task_id the backend builds no LoraConfig: weights alone are ignored (utils.cc
    getLoraConfigFromTensors)."""

    task_id: int
    weights: np.ndarray | None
    config: np.ndarray | None


@dataclass(frozen=True)
class ParsedRequest:
    items: list[ItemInput] = field(default_factory=list)
    streaming: bool = False
    stop: bool = False
    flags: dict = field(default_factory=dict)


def parse(get: Getter, *, exclude_input_default: bool, static_batching: bool = False) -> ParsedRequest:
    if first_bool(get, "stop"):
        return ParsedRequest(stop=True)
    ids = get("input_ids")
    if ids is None:
        raise EnqueueError(MISSING_INPUT_IDS)
    if get("request_output_len") is None:
        raise EnqueueError(MISSING_OUTPUT_LEN)
    ids = ids.reshape(ids.shape[0], -1) if ids.ndim > 1 else ids.reshape(1, -1)
    streaming = first_bool(get, "streaming")
    items = []
    for index in range(ids.shape[0]):
        row = triton_requests.row_getter(get, index)
        try:
            for name in ONE_ONLY:  # the CPU engine decodes one beam
                value = triton_requests.scalar(row, name, int, 1)
                if value != 1:
                    raise EnqueueError(f"{name}={value}: the TensorRT-LLM emulator serves 1 only (one beam)")
            triton_requests.num_return_sequences(row)  # the CPU engine's limit (1-16)
            length = triton_requests.scalar(row, "input_lengths", int, ids.shape[1])
            end_id = triton_requests.scalar(row, "end_id", int, None)
            params = triton_requests.sampling_params(
                with_executor_defaults(row),
                triton_requests.scalar(row, "request_output_len", int, required=True),
                end_id,
            )
            exclude = triton_requests.scalar(row, "exclude_input_in_output", bool, exclude_input_default)
        except ValueError as exc:
            raise EnqueueError(str(exc)) from None
        bias = row("embedding_bias")
        task = row("lora_task_id")
        lora = None
        if task is not None:
            lora = LoraInput(int(task.reshape(-1)[0]), row("lora_weights"), row("lora_config"))
        items.append(
            ItemInput(
                prompt=ids[index, :length].tolist(),
                params=params,
                exclude_input_in_output=exclude,
                bias_size=0 if bias is None else bias.size,
                lora=lora,
            )
        )
    if static_batching:  # Executor::Impl: a static-batching request is not streamed and excludes its input
        streaming = False
        items = [dataclasses.replace(i, exclude_input_in_output=True) for i in items]
    return ParsedRequest(items, streaming, False, output_flags(get, len(items)))
