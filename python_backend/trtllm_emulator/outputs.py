"""Which output tensors a response carries, as numpy arrays, or the error the backend sends instead.

`plan_outputs(flags, requested, declared, model)` is decided once per Triton request:
  - flags: the request's return_* inputs, batch_size, num_return_sequences;
  - requested: the output names the request asks for (an ensemble step asks for its output_map keys);
  - declared: the outputs of the config Triton loaded.
It returns OutputPlan(names) with the outputs every data response of that request carries
(backend_contract.outputs_written), or OutputPlan(error=...) when the real backend would turn
every response into an error: output_ids or sequence_length not requested, or an output the
backend writes without being asked (the ten return_perf_metrics outputs) that the config does not
declare. The C++ backend's write then fails in Triton's InferenceResponse::AddOutput ("unexpected
inference output"); a Python-backend model's undeclared outputs are dropped silently by its stub
instead, so the emulator makes that check itself, against the same loaded config.
Outputs the CPU engine cannot produce here (log probs, logits) are refused as an
error naming the output: the emulator never sends a response the real backend would shape
differently.

`tensors(plan, emission, batch_index)` builds one response's arrays: output_ids INT32 [1, 1, len],
sequence_length INT32 [1, 1] (this response's token count), each perf metric [1, 1] in its
contract dtype, batch_index INT32 [1, 1].
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from ..contract import trtllm_backend as bc
from .framing import Emission

EMULATED = {
    "output_ids",
    "sequence_length",
    "batch_index",
    "sequence_index",
    "num_input_tokens",
    "num_output_tokens",
    *bc.PERF_METRICS,
}


OutputPlan = bc.OutputPlan


def plan_outputs(
    flags: dict, requested: Collection[str], declared: Collection[str], model: str
) -> OutputPlan:
    """The backend's plan (contract: bc.plan_outputs), refused by name where it names an output the CPU
    engine cannot produce."""
    plan = bc.plan_outputs(flags, requested, declared, model)
    if plan.error:
        return plan
    ordered = plan.names
    unsupported = [name for name in ordered if name not in EMULATED]
    if unsupported:
        return OutputPlan(
            error=f"the TensorRT-LLM emulator cannot produce {', '.join(unsupported)} "
            "(the emulator returns neither log probs nor logits)"
        )
    return OutputPlan(tuple(ordered))


def tensors(
    plan: OutputPlan,
    emission: Emission,
    batch_index: int,
    sequence_index: int | None = None,
    prompt_len: int = 0,
) -> dict[str, np.ndarray]:
    """One response's arrays. num_input_tokens is the prompt's length and num_output_tokens the
    tokens in this response's output_ids (fillTritonResponse: inputTokensSize, outputTokensSize)."""
    out: dict[str, np.ndarray] = {}
    perf = None
    for name in plan.names:
        if name == "output_ids":
            out[name] = np.asarray(emission.tokens, dtype=np.int32).reshape(1, 1, -1)
        elif name == "sequence_length":
            out[name] = np.asarray([[len(emission.tokens)]], dtype=np.int32)
        elif name == "batch_index":
            out[name] = np.asarray([[batch_index]], dtype=np.int32)
        elif name == "sequence_index":
            out[name] = np.asarray([[sequence_index]], dtype=np.int32)
        elif name in ("num_input_tokens", "num_output_tokens"):
            value = prompt_len if name == "num_input_tokens" else len(emission.tokens)
            out[name] = np.asarray([[value]], dtype=np.int32)
        else:  # a perf metric
            perf = perf or emission.perf.arrays()
            out[name] = perf[name]
    return out
