"""The ensemble's requests on the wire, stated once: its inputs, and how each becomes a tensor or a
JSON field. The sync and asyncio clients, the load test and the bench all build requests from
`ENSEMBLE_INPUTS` (model_repository/ensemble/config.pbtxt declares them; a test holds the two
equal). How its responses are read is client/responses.py.

Requests are plain dicts {input name: value}; None means "not sent" (the ensemble's default).
Every input has shape [1, n]: one request, n = 1 except for a list-valued input (stop_words); the
two matrices of TensorRT-LLM's LoRA inputs (lora_weights, lora_config) are [1, rows, columns].
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from python_backend.contract.limits import SAMPLING_LIMITS, Range

MODEL = "ensemble"  # the model clients send requests to


@dataclass(frozen=True)
class Input:
    """One ensemble input: its name, Triton datatype and the numpy dtype its tensor is built from."""

    name: str
    datatype: str
    dtype: type
    # Fills the shorter rows of a batch (grpc_batch_inputs) up to the longest; None: rows must be
    # equally long. The receiving model drops it.
    pad: object = None
    matrix: bool = False  # dims [-1, -1] / [-1, 3]: one request's value is a 2-D array

    def array(self, value) -> np.ndarray:
        """The [1, n] tensor of one request's value (a list for list-valued inputs); strings are
        sent as UTF-8 and integers must fit the datatype. A matrix input takes [rows, columns], or
        [1, rows, columns] as TensorRT-LLM's converter saves it (model.lora_weights.npy)."""
        if self.matrix:
            array = np.asarray(value, dtype=self.dtype)
            if array.ndim == 3 and array.shape[0] == 1:
                return array
            if array.ndim != 2:
                raise ValueError(f"{self.name}: expected [rows, columns], got shape {list(array.shape)}")
            return array[np.newaxis]
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if self.datatype == "BYTES":
            items = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in items]
        elif np.issubdtype(self.dtype, np.integer):
            items = [self.fit(self.name, v) for v in items]
        return np.asarray([items], dtype=self.dtype)

    def fit(self, field: str, value):
        """`value` if it fits this input's integer datatype (numpy would wrap it silently), else
        InputError naming `field`. The request contract leaves the top of most ranges open: this
        is what closes it."""
        if isinstance(value, np.generic):
            value = value.item()
        if not np.issubdtype(self.dtype, np.integer):
            return value
        info = np.iinfo(self.dtype)
        return Range(int(info.min), int(info.max), integer=True).check(field, value)


ENSEMBLE_INPUTS: dict[str, Input] = {
    spec.name: spec
    for spec in (
        Input("text_input", "BYTES", np.object_),
        # Or the prompt as token ids; preprocessing drops text/tokenizer.py's TOKEN_ID_PADDING (-1)
        # at the end of a row (a test holds the two equal).
        Input("input_token_ids", "INT32", np.int32, pad=-1),
        Input("max_tokens", "INT32", np.int32),
        Input("min_tokens", "INT32", np.int32),
        Input("stop_words", "BYTES", np.object_),
        Input("bad_words", "BYTES", np.object_),
        # With embedding_bias_weights: a logit bias per word.
        Input("embedding_bias_words", "BYTES", np.object_),
        Input("embedding_bias_weights", "FP32", np.float32),
        # OpenAI's logit_bias: a value per token id, added to its logit (with any bias words').
        Input("logit_bias_token_ids", "INT32", np.int32),
        Input("logit_bias_values", "FP32", np.float32),
        Input("exclude_input_in_output", "BOOL", np.bool_),
        Input("end_id", "INT32", np.int32),
        Input("pad_id", "INT32", np.int32),
        Input("top_k", "INT32", np.int32),
        Input("top_p", "FP32", np.float32),
        Input("temperature", "FP32", np.float32),
        Input("repetition_penalty", "FP32", np.float32),
        Input("presence_penalty", "FP32", np.float32),
        Input("frequency_penalty", "FP32", np.float32),
        Input("seed", "UINT64", np.uint64),
        Input("stream", "BOOL", np.bool_),
        Input("apply_chat_template", "BOOL", np.bool_),
        Input("guided_decoding_guide_type", "BYTES", np.object_),  # python_backend/contract/guides.py
        Input("guided_decoding_guide", "BYTES", np.object_),
        Input("beam_width", "INT32", np.int32),  # TensorRT-LLM's; the CPU engine takes only 1
        Input("num_return_sequences", "INT32", np.int32),  # TensorRT-LLM's; 1-16 (contract/limits.py)
        Input("length_penalty", "FP32", np.float32),  # beam search only
        # The optional outputs, each asked for by a flag (TensorRT-LLM's names):
        Input("return_log_probs", "BOOL", np.bool_),  # → output_log_probs, cum_log_probs
        Input("return_generation_logits", "BOOL", np.bool_),  # → generation_logits [1, 1, tokens, vocab]
        Input("return_context_logits", "BOOL", np.bool_),  # → context_logits [1, prompt tokens, vocab]
        Input("return_num_input_tokens", "BOOL", np.bool_),  # → num_input_tokens [1, 1]: the prompt's
        Input("return_num_output_tokens", "BOOL", np.bool_),  # → num_output_tokens [1, 1]: the answer's
        # → the ten perf outputs (python_backend/contract/perf_metrics.py)
        Input("return_perf_metrics", "BOOL", np.bool_),
        # A LoRA adapter by name: a sub-directory of the server's adapter directory (LORA_DIR).
        Input("lora_name", "BYTES", np.object_),
        # tensorrtllm_backend's LoRA inputs, so its clients work unchanged (docs/upstream/lora.md §2).
        Input("lora_task_id", "UINT64", np.uint64),
        Input("lora_weights", "FP16", np.float16, matrix=True),
        Input("lora_config", "INT32", np.int32, matrix=True),
        # Ours: attach the named adapter's weights again (the resend after a C++ LoRA cache miss).
        Input("lora_send_weights", "BOOL", np.bool_),
    )
}


def checked(name: str, value, field: str | None = None):
    """A sampling input's value as the request contract allows it (python_backend/contract/limits.py)
    and as its datatype fits it; else InputError naming `field` (default: the input's name). The
    edges that take user input (the OpenAI gateway, the batch job) call this before sending."""
    field = field or name
    return ENSEMBLE_INPUTS[name].fit(field, SAMPLING_LIMITS[name].check(field, value))


def _sent(values: dict[str, object]) -> dict[str, object]:
    unknown = sorted(set(values) - set(ENSEMBLE_INPUTS))
    if unknown:
        raise ValueError(f"not an ensemble input: {', '.join(unknown)}")
    return {name: value for name, value in values.items() if value is not None}


def request_id() -> str:
    """A fresh id for one gRPC request. The ensemble hands it to every step, and a TensorRT-LLM
    engine can only be told to stop a request that has one (postprocessing does that when the
    client leaves; python_backend/triton_io/engine_stop.py). Triton 2.51's HTTP generate endpoint
    takes no request id."""
    return f"triton-llm-{uuid.uuid4().hex}"


def grpc_inputs(grpcclient, values: dict[str, object]) -> list:
    """tritonclient InferInputs for a request; `grpcclient` is tritonclient.grpc (imported by the caller)."""
    inputs = []
    for name, value in _sent(values).items():
        spec = ENSEMBLE_INPUTS[name]
        array = spec.array(value)
        tensor = grpcclient.InferInput(name, list(array.shape), spec.datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def grpc_batch_inputs(grpcclient, batch: list[dict[str, object]]) -> list:
    """tritonclient InferInputs for one request holding a batch of prompts: each input's [1, n]
    rows stacked into [batch, n] (the ensemble's max_batch_size > 0 takes that). Every request of
    the batch must send the same inputs with the same n (a ValueError otherwise), except that an
    input with a `pad` (input_token_ids) has its shorter rows filled with it."""
    sent = [_sent(values) for values in batch]
    if any(set(values) != set(sent[0]) for values in sent):
        raise ValueError("the requests of a batch must send the same inputs")
    inputs = []
    for name in sent[0]:
        spec = ENSEMBLE_INPUTS[name]
        rows = [spec.array(values[name]) for values in sent]
        if spec.pad is not None:
            width = max(row.shape[1] for row in rows)
            rows = [
                np.pad(row, ((0, 0), (0, width - row.shape[1])), constant_values=spec.pad) for row in rows
            ]
        if len({row.shape for row in rows}) != 1:
            raise ValueError(f"{name}: the requests of a batch must send as many values each")
        array = np.concatenate(rows)
        tensor = grpcclient.InferInput(name, list(array.shape), spec.datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def json_inputs(values: dict[str, object], parameters: dict[str, object] | None = None) -> dict[str, object]:
    """The body of Triton's HTTP `generate` / `generate_stream` for a request. `parameters` go in as
    top-level keys too: the generate endpoint passes a key that is no input on as a request parameter."""
    body = {name: list(value) if isinstance(value, tuple) else value for name, value in _sent(values).items()}
    return {**body, **(parameters or {})}


def http_base(url: str) -> str:
    """host:port or http(s)://host:port → the base URL."""
    return url if url.startswith("http") else f"http://{url}"
