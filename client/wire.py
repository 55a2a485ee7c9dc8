"""The ensemble's wire format, stated once: its inputs, how each becomes a tensor or a JSON field,
and how its responses are read. The sync and asyncio clients, the load test and the bench all
build requests from `ENSEMBLE_INPUTS` (model_repository/ensemble/config.pbtxt declares them).

Requests are plain dicts {input name: value}; None means "not sent" (the ensemble's default).
Every input has shape [1, n]: one request, n = 1 except for a list-valued input (stop_words).

Responses carry `text_output` (the text, a delta when streaming) and `token_count` (the tokens
generated so far); with return_log_probs also TensorRT-LLM's `output_log_probs` [1, 1, n] (one per
token of this response) and `cum_log_probs` [1, 1]. TensorRT-LLM's ensemble has no finish-reason
output, so `finish_reason` derives it from the count, here and nowhere else.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from python_backend.contract.limits import SAMPLING_LIMITS, Range

from .errors import ServerError, error_from, grpc_error

MODEL = "ensemble"  # the model clients send requests to


@dataclass(frozen=True)
class Input:
    """One ensemble input: its name, Triton datatype and the numpy dtype its tensor is built from."""

    name: str
    datatype: str
    dtype: type

    def array(self, value) -> np.ndarray:
        """The [1, n] tensor of one request's value (a list for list-valued inputs); strings are
        sent as UTF-8 and integers must fit the datatype."""
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
        Input("max_tokens", "INT32", np.int32),
        Input("min_tokens", "INT32", np.int32),
        Input("stop_words", "BYTES", np.object_),
        Input("bad_words", "BYTES", np.object_),
        Input(
            "embedding_bias_words", "BYTES", np.object_
        ),  # with embedding_bias_weights: logit bias per word
        Input("embedding_bias_weights", "FP32", np.float32),
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
        Input("return_log_probs", "BOOL", np.bool_),  # TensorRT-LLM's: → output_log_probs, cum_log_probs
        Input("return_generation_logits", "BOOL", np.bool_),  # → generation_logits [1, 1, tokens, vocab]
        Input("return_context_logits", "BOOL", np.bool_),  # → context_logits [1, prompt tokens, vocab]
        Input("return_num_input_tokens", "BOOL", np.bool_),  # → num_input_tokens [1, 1]: the prompt's tokens
        Input(
            "return_num_output_tokens", "BOOL", np.bool_
        ),  # → num_output_tokens [1, 1]: this answer's tokens
        Input(
            "return_perf_metrics", "BOOL", np.bool_
        ),  # → the ten perf outputs (python_backend/contract/perf_metrics.py)
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


def json_inputs(values: dict[str, object], parameters: dict[str, object] | None = None) -> dict[str, object]:
    """The body of Triton's HTTP `generate` / `generate_stream` for a request. `parameters` go in as
    top-level keys too: the generate endpoint passes a key that is no input on as a request parameter."""
    body = {name: list(value) if isinstance(value, tuple) else value for name, value in _sent(values).items()}
    return {**body, **(parameters or {})}


# -- responses ---------------------------------------------------------------------------------
class Piece(NamedTuple):
    """One response as the clients pass it on."""

    text: str
    token_count: int
    log_probs: tuple[float, ...] = ()  # output_log_probs of its tokens
    cached_tokens: int | None = None  # prompt tokens from the prefix cache; None: not reported
    sequence_index: int = 0  # which of num_return_sequences answers it belongs to
    logits: np.ndarray | None = None  # generation_logits of its tokens, [tokens, vocab]
    prompt_logits: np.ndarray | None = None  # context_logits, [prompt tokens, vocab] (a first response)


def grpc_chunk(result, error=None) -> tuple[str | None, int, bool]:
    """(text or None, token_count, final) of one gRPC stream response; the typed error when the
    stream delivered `error` instead (the callback's and the async iterator's second item)."""
    if error is not None:
        raise grpc_error(error)
    final = result.get_response().parameters.get("triton_final_response")
    text = result.as_numpy("text_output")
    count = result.as_numpy("token_count")
    decoded = b"".join(text.reshape(-1)).decode("utf-8") if text is not None else None
    return (
        decoded,
        int(count.reshape(-1)[0]) if count is not None else 0,
        bool(final is not None and final.bool_param),
    )


def grpc_piece(result, text: str, count: int) -> Piece:
    """The Piece of one gRPC stream response whose text and count grpc_chunk read."""
    return Piece(
        text,
        count,
        grpc_log_probs(result),
        grpc_cached_tokens(result),
        grpc_sequence_index(result),
        _rows(result.as_numpy("generation_logits")),
        _rows(result.as_numpy("context_logits")),
    )


def _rows(logits, tokens: int | None = None) -> np.ndarray | None:
    """generation_logits [1, 1, tokens, vocab] as [tokens, vocab]; None when absent or empty. Triton's
    JSON answers flatten tensors: there `tokens` (the answer's output_log_probs count) gives the rows."""
    if logits is None:
        return None
    logits = np.asarray(logits, dtype=np.float32)
    if logits.size == 0:
        return None
    return logits.reshape(-1, logits.shape[-1]) if tokens is None else logits.reshape(tokens, -1)


def grpc_log_probs(result) -> tuple[float, ...]:
    """output_log_probs of one gRPC stream response: one per token it carries; () when absent."""
    values = result.as_numpy("output_log_probs")
    return () if values is None else tuple(float(v) for v in values.reshape(-1))


def grpc_cached_tokens(result) -> int | None:
    """cached_tokens of one gRPC stream response; None from a server whose ensemble lacks it."""
    values = result.as_numpy("cached_tokens")
    return None if values is None else int(values.reshape(-1)[0])


def grpc_sequence_index(result) -> int:
    """sequence_index of one gRPC stream response (sent only for num_return_sequences > 1); 0 otherwise."""
    values = result.as_numpy("sequence_index")
    return 0 if values is None else int(values.reshape(-1)[0])


def _json_sequence_index(data: dict) -> int:
    values = data.get("sequence_index")
    return 0 if values is None else int(np.asarray(values).reshape(-1)[0])


def _json_rows(data: dict) -> np.ndarray | None:
    return _rows(data.get("generation_logits"), len(_json_log_probs(data)))


def _json_prompt_rows(data: dict) -> np.ndarray | None:
    prompt = data.get("num_input_tokens")  # asked with context logits: how many rows the flat list holds
    rows = None if prompt is None else int(np.asarray(prompt).reshape(-1)[0])
    return _rows(data.get("context_logits"), rows)


def _json_cached_tokens(data: dict) -> int | None:
    values = data.get("cached_tokens")
    return None if values is None else int(np.asarray(values).reshape(-1)[0])


def _json_log_probs(data: dict) -> tuple[float, ...]:
    """output_log_probs of an HTTP answer: Triton's JSON keeps the shape as nested lists."""
    values = data.get("output_log_probs")
    return () if values is None else tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))


def generate_answer(data: dict) -> Piece:
    """The Piece of an HTTP `generate` answer; Triton can answer 200 with an error body."""
    if "error" in data:
        raise error_from(str(data["error"]))
    return Piece(
        data["text_output"],
        int(data.get("token_count", 0)),
        _json_log_probs(data),
        _json_cached_tokens(data),
        _json_sequence_index(data),
        _json_rows(data),
        _json_prompt_rows(data),
    )


def sse_chunk(line: str) -> Piece | None:
    """The Piece of one SSE line of /generate_stream; None for non-data lines."""
    if not line.startswith("data:"):
        return None
    data = json.loads(line[5:])
    if "error" in data:
        raise error_from(str(data["error"]))
    return Piece(
        data.get("text_output", ""),
        int(data.get("token_count", 0)),
        _json_log_probs(data),
        _json_cached_tokens(data),
        _json_sequence_index(data),
        _json_rows(data),
        _json_prompt_rows(data),
    )


def http_error_message(body: str) -> str:
    """The message of an error body: JSON {"error": …}, an SSE `data: {"error": …}` line, or text."""
    for candidate in (body.strip(), *(line[5:] for line in body.splitlines() if line.startswith("data:"))):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])
    return body.strip()


def http_error(body: str, status: int) -> ServerError:
    """The typed error of a non-200 HTTP answer."""
    return error_from(http_error_message(body), status)


def finish_reason(token_count: int, max_tokens: int) -> str:
    """Why generation ended: "length" when it produced all max_tokens tokens, else "stop" (an end
    token or a stop word). Derived, because the ensemble does not report it: an answer whose last
    allowed token was also its end token counts as "length"."""
    return "length" if token_count >= max_tokens else "stop"


def http_base(url: str) -> str:
    """host:port or http(s)://host:port → the base URL."""
    return url if url.startswith("http") else f"http://{url}"
