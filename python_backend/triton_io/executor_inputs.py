"""What TensorRT-LLM's `tensorrtllm` backend reads of a request before its executor sees it.

Shared by the two engine models that keep the `tensorrt_llm` model's tensor contract: the C++
backend's emulator (python_backend/trtllm_emulator/) and the LLM-API engine model
(python_backend/llmapi/). Both refuse the same requests with the same messages because both
call these.

Input: `get(name)` returning each input as numpy with the batch dimension first (None when absent).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..contract import trtllm_backend as bc
from ..contract.trtllm_backend.executor import executor_sampling
from . import requests as triton_requests

Getter = Callable[[str], "np.ndarray | None"]

# utils.cc createRequestsFromInputTensors (TensorRT-LLM triton_backend, see backend_contract.UTILS_CC).
MISSING_INPUT_IDS = "input_ids or encoder_input_features is not present in the request."
MISSING_OUTPUT_LEN = "request_output_len is not present in the request"
# model_instance_state.cc handleStopRequest: a stop request must name the request it stops.
STOP_WITHOUT_ID = "Trying to stop a request but request ID is not provided"
FLAG_INPUTS = sorted({o.flag for o in bc.OUTPUTS.values() if o.flag})


class EnqueueError(ValueError):
    """The backend answers the request with this error before any generation."""


def first_bool(get: Getter, name: str) -> bool:
    """A boolean input as getRequestBooleanInputTensor reads it: its first element, False if absent."""
    value = get(name)
    return bool(value.reshape(-1)[0]) if value is not None and value.size else False


def with_executor_defaults(row: Getter) -> Getter:
    """`row` with the four sampling inputs as the executor samples with them (executor_sampling):
    what the CPU engine's request reader then takes as given."""
    read = {
        "temperature": triton_requests.scalar(row, "temperature", float),
        "top_k": triton_requests.scalar(row, "runtime_top_k", int),
        "top_p": triton_requests.scalar(row, "runtime_top_p", float),
        "seed": triton_requests.scalar(row, "seed", int),
    }
    values = executor_sampling(**read)
    dtypes = {"temperature": np.float32, "top_k": np.int32, "top_p": np.float32, "seed": np.uint64}
    names = {"temperature": "temperature", "runtime_top_k": "top_k", "runtime_top_p": "top_p", "seed": "seed"}

    def get(name: str):
        if name in names:
            field = names[name]
            return np.asarray([[values[field]]], dtype=dtypes[field])
        return row(name)

    return get


def output_flags(get: Getter, batch_size: int) -> dict:
    """The flags that decide a response's outputs (trtllm_backend.outputs_written)."""
    flags: dict = {name: first_bool(get, name) for name in FLAG_INPUTS}
    flags["batch_size"] = batch_size
    num_sequences = get("num_return_sequences")
    flags["num_return_sequences"] = int(num_sequences.reshape(-1)[0]) if num_sequences is not None else 1
    return flags
