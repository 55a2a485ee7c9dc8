"""Which output tensors a response carries, as numpy arrays, or the error the C++ backend sends instead.

`plan_outputs(flags, requested, declared, model)` is decided once per Triton request, as the C++
backend's emulator decides it (trtllm_emulator/outputs.py) and by the same contract
(trtllm_backend.outputs_written): the outputs every data response carries, in fillTritonResponse's
order, or the backend's error when output_ids / sequence_length is not requested or an output it
writes is not declared (a Python model's undeclared outputs are dropped silently by its stub, so
the check is made here against the config Triton loaded). Unlike the emulator, nothing is refused
for being unavailable: the LLM API returns log probs and logits.

`tensors(plan, emission, ...)` lays one Emission out as the `tensorrt_llm` model does: output_ids
INT32 [1, 1, len], sequence_length INT32 [1, 1] (this response's token count), cum_log_probs FP32
[1, 1], output_log_probs FP32 [1, 1, len], generation_logits FP32 [1, 1, len, vocab],
context_logits FP32 [1, prompt, vocab] (first response; later ones [1, 0, vocab]: the tensor stays
in every response the plan names), batch_index / sequence_index / num_input_tokens /
num_output_tokens INT32 [1, 1], each perf output [1, 1] in its contract dtype.
"""

from __future__ import annotations

import numpy as np

from ..contract import trtllm_backend as bc
from ..contract.perf_metrics import NAMES as PERF_NAMES
from ..contract.perf_metrics import PerfMetrics
from .framing import Emission

NO_PERF = PerfMetrics(0, 0, 0, 0, 0, 0, 0)


# The backend's rule, as the C++ path's emulator applies it; nothing is refused here for being
# unavailable (the LLM API returns log probs and logits).
OutputPlan = bc.OutputPlan
plan_outputs = bc.plan_outputs


def _one(value, dtype) -> np.ndarray:
    return np.asarray([[value]], dtype=dtype)


def tensors(
    plan: OutputPlan,
    emission: Emission,
    *,
    batch_index: int,
    sequence_index: int | None,
    prompt_len: int,
    vocab_size: int = 0,
) -> dict[str, np.ndarray]:
    """One response's arrays. vocab_size: the logits' last dim when a response carries no row (0:
    taken from the rows themselves)."""
    out: dict[str, np.ndarray] = {}
    perf = (emission.perf or NO_PERF).arrays() if any(n in PERF_NAMES for n in plan.names) else {}
    for name in plan.names:
        if name == "output_ids":
            out[name] = np.asarray(emission.tokens, dtype=np.int32).reshape(1, 1, -1)
        elif name == "sequence_length":
            out[name] = _one(len(emission.tokens), np.int32)
        elif name == "cum_log_probs":
            out[name] = _one(emission.cum_log_prob, np.float32)
        elif name == "output_log_probs":
            out[name] = np.asarray(emission.log_probs, dtype=np.float32).reshape(1, 1, -1)
        elif name == "generation_logits":
            rows = emission.generation_logits
            rows = np.zeros((0, vocab_size), np.float32) if rows is None else rows.astype(np.float32)
            out[name] = rows.reshape(1, 1, *rows.shape)
        elif name == "context_logits":
            logits = emission.context_logits
            logits = np.zeros((0, vocab_size), np.float32) if logits is None else logits
            out[name] = logits.astype(np.float32)[None]
        elif name == "batch_index":
            out[name] = _one(batch_index, np.int32)
        elif name == "sequence_index":
            out[name] = _one(sequence_index or 0, np.int32)
        elif name == "num_input_tokens":
            out[name] = _one(prompt_len, np.int32)
        elif name == "num_output_tokens":
            out[name] = _one(len(emission.tokens), np.int32)
        elif name in perf:
            out[name] = perf[name]
    return out
