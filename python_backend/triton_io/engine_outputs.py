"""The CPU engine model's output tensors: one response's values → name → numpy array, laid out as
TensorRT-LLM's `tensorrt_llm` model writes them (batch dim 1 first, then beam 1 where it has one).

Always: output_ids INT32 [1, 1, tokens], sequence_length INT32 [1, 1], and either the ten perf
outputs (return_perf_metrics, contract/perf_metrics.py) or just arrival_time_ns INT64 [1, 1]
(postprocessing's key) and kv_cache_reused_blocks INT32 [1, 1] (prefix-cache hits; blocks of one
token, so exact). The others only when asked, as the backend writes them: sequence_index
(num_return_sequences > 1), batch_index (a batch of several prompts), num_input_tokens,
num_output_tokens (INT32 [1, 1] each), generation_logits FP32 [1, 1, tokens, vocab], context_logits
FP32 [1, prompt, vocab], output_log_probs FP32 [1, 1, tokens] and cum_log_probs FP32 [1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract.perf_metrics import PerfMetrics


@dataclass(frozen=True)
class LogProbs:
    """One response's TensorRT-LLM log-prob outputs: output_log_probs holds this response's tokens
    (the new ones when streaming, all generated ones otherwise), cum_log_probs the sum over every
    token generated so far."""

    tokens: list[float]
    cumulative: float


@dataclass(frozen=True)
class Extras:
    """One response's outputs beside output_ids / sequence_length / arrival_time_ns; None: not
    written (the backend writes each only when asked, sequence_index only for several sequences,
    batch_index only for a batch of several prompts)."""

    cached_tokens: int = 0  # kv_cache_reused_blocks: always written (postprocessing's cached_tokens)
    log_probs: LogProbs | None = None
    logits: list | None = None  # generation_logits rows
    context_logits: object = None  # numpy [prompt, vocab]: a sequence's first response, when asked
    sequence_index: int | None = None
    batch_index: int | None = None  # the row of a batched Triton request
    num_input_tokens: int | None = None  # the prompt's length
    num_output_tokens: int | None = None  # tokens in this response's output_ids
    perf: PerfMetrics | None = None  # return_perf_metrics: all ten perf outputs


NO_EXTRAS = Extras()
# Written as INT32 [1, 1] when not None, in this order.
_COUNTS = ("sequence_index", "batch_index", "num_input_tokens", "num_output_tokens")


def _one(value, dtype) -> np.ndarray:
    return np.asarray([[value]], dtype=dtype)


def output_tensors(
    token_ids: list[int], arrival_ns: int, extras: Extras, vocab_size: int
) -> dict[str, np.ndarray]:
    """One response's tensors. vocab_size: generation_logits' last dim, also when a response has
    no token."""
    tensors = {
        "output_ids": np.asarray(token_ids, dtype=np.int32).reshape(1, 1, -1),
        "sequence_length": _one(len(token_ids), np.int32),
    }
    if extras.perf is not None:  # all ten, in the backend's order
        tensors.update(extras.perf.arrays())
    else:
        tensors["arrival_time_ns"] = _one(arrival_ns, np.int64)
        tensors["kv_cache_reused_blocks"] = _one(extras.cached_tokens, np.int32)
    for name in _COUNTS:
        value = getattr(extras, name)
        if value is not None:
            tensors[name] = _one(value, np.int32)
    if extras.logits is not None:
        rows = extras.logits
        stacked = np.stack(rows) if rows else np.zeros((0, vocab_size), dtype=np.float32)
        tensors["generation_logits"] = stacked.reshape(1, 1, len(rows), vocab_size)
    if extras.context_logits is not None:
        tensors["context_logits"] = extras.context_logits[None].astype(np.float32)
    if extras.log_probs is not None:
        log_probs = np.asarray(extras.log_probs.tokens, dtype=np.float32)
        tensors["output_log_probs"] = log_probs.reshape(1, 1, -1)
        tensors["cum_log_probs"] = _one(extras.log_probs.cumulative, np.float32)
    return tensors
