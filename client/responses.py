"""The ensemble's responses, read once for every client: each becomes a `Piece`.

Responses carry `text_output` (the text, a delta when streaming) and `token_count` (the tokens
generated so far); with return_log_probs also TensorRT-LLM's `output_log_probs` [1, 1, n] (one per
token of this response) and `cum_log_probs` [1, 1]. TensorRT-LLM's ensemble has no finish-reason
output, so `finish_reason` derives it from the count, here and nowhere else. gRPC responses are
tritonclient results; HTTP answers are Triton's JSON (`generate`, or one SSE line of
`generate_stream`), where tensors arrive flattened.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np

from .errors import ServerError, error_from, grpc_error


class Piece(NamedTuple):
    """One response as the clients pass it on."""

    text: str
    token_count: int
    log_probs: tuple[float, ...] = ()  # output_log_probs of its tokens
    cached_tokens: int | None = None  # prompt tokens from the prefix cache; None: not reported
    sequence_index: int = 0  # which of num_return_sequences answers it belongs to
    logits: np.ndarray | None = None  # generation_logits of its tokens, [tokens, vocab]
    prompt_logits: np.ndarray | None = None  # context_logits, [prompt tokens, vocab] (a first response)
    batch_index: int = 0  # which prompt of a batched request it answers (TensorRT-LLM's batch_index)


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
        text=text,
        token_count=count,
        log_probs=grpc_log_probs(result),
        cached_tokens=grpc_cached_tokens(result),
        sequence_index=grpc_sequence_index(result),
        logits=_rows(result.as_numpy("generation_logits")),
        prompt_logits=_rows(result.as_numpy("context_logits")),
        batch_index=grpc_batch_index(result),
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


def grpc_batch_index(result) -> int:
    """batch_index of one gRPC stream response: the prompt of a batched request it answers; 0 without."""
    values = result.as_numpy("batch_index")
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
    return _json_piece(data, data["text_output"])


def sse_chunk(line: str) -> Piece | None:
    """The Piece of one SSE line of /generate_stream; None for non-data lines."""
    if not line.startswith("data:"):
        return None
    data = json.loads(line[5:])
    if "error" in data:
        raise error_from(str(data["error"]))
    return _json_piece(data, data.get("text_output", ""))


def _json_piece(data: dict, text: str) -> Piece:
    """The Piece of one JSON answer (`generate`'s body or an SSE line's data) whose text is `text`."""
    return Piece(
        text=text,
        token_count=int(data.get("token_count", 0)),
        log_probs=_json_log_probs(data),
        cached_tokens=_json_cached_tokens(data),
        sequence_index=_json_sequence_index(data),
        logits=_json_rows(data),
        prompt_logits=_json_prompt_rows(data),
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
