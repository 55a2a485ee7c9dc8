"""The `tensorrtllm` model's outputs: which ones a response carries, for which request flags.

fillTritonResponse writes each output the request turned on; Triton refuses one the model does
not declare (getResponseBuffer, InferenceResponse::AddOutput: OUTPUTS_SOURCE).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from .inputs import F32, FLOAT_ANY, I32, I64, U8
from .sources import CORE_ADD_OUTPUT, FILL, RESPONSE_BUFFER, TEMPLATE


@dataclass(frozen=True)
class Output:
    name: str
    dtypes: tuple[str, ...]
    dims: tuple[int, ...]  # as declared (no batch dim); the response tensor is [1, *dims]
    _: KW_ONLY  # the three below read alike positionally
    flag: str | None  # request input that turns it on (None: always)
    needs_request: bool  # written only when the request asks for this output by name
    when: str


PERF_METRICS = (
    "kv_cache_alloc_new_blocks",
    "kv_cache_reused_blocks",
    "kv_cache_alloc_total_blocks",
    "arrival_time_ns",
    "first_scheduled_time_ns",
    "first_token_time_ns",
    "last_token_time_ns",
    "acceptance_rate",
    "total_accepted_draft_tokens",
    "total_draft_tokens",
)  # processStats order
_PERF_TYPES = (I32, I32, I32, I64, I64, I64, I64, F32, I32, I32)
OUTPUTS_SOURCE = (TEMPLATE, *FILL, *RESPONSE_BUFFER, *CORE_ADD_OUTPUT)
OUTPUTS = {
    o.name: o
    for o in (
        Output(
            "output_ids",
            I32,
            (-1, -1),
            flag=None,
            needs_request=True,
            when="every response; [1, beams, len], rows padded with -1",
        ),
        Output(
            "sequence_length",
            I32,
            (-1,),
            flag=None,
            needs_request=True,
            when="every response; [1, beams]: tokens in this response's rows",
        ),
        Output(
            "cum_log_probs",
            F32,
            (-1,),
            flag="return_log_probs",
            needs_request=True,
            when="[1, beams]",
        ),
        Output(
            "output_log_probs",
            F32,
            (-1, -1),
            flag="return_log_probs",
            needs_request=True,
            when="[1, beams, len]",
        ),
        Output(
            "context_logits",
            FLOAT_ANY,
            (-1, -1),
            flag="return_context_logits",
            needs_request=True,
            when="[1, prompt_len, vocab]",
        ),
        Output(
            "generation_logits",
            FLOAT_ANY,
            (-1, -1, -1),
            flag="return_generation_logits",
            needs_request=True,
            when="[1, beams, len, vocab]",
        ),
        Output(
            "batch_index",
            I32,
            (1,),
            flag=None,
            needs_request=True,
            when="[1, 1], only when the Triton request's batch size > 1",
        ),
        Output(
            "sequence_index",
            I32,
            (1,),
            flag=None,
            needs_request=True,
            when="[1, 1], only when num_return_sequences > 1",
        ),
        Output(
            "context_phase_params",
            U8,
            (-1,),
            flag=None,
            needs_request=False,
            when="request parameter request_type=context_only",
        ),
        *(
            Output(
                n,
                t,
                (1,),
                flag="return_perf_metrics",
                needs_request=False,
                when="[1, 1] on every response",
            )
            for n, t in zip(PERF_METRICS, _PERF_TYPES, strict=True)
        ),
        Output(
            "num_input_tokens",
            I32,
            (1,),
            flag="return_num_input_tokens",
            needs_request=True,
            when="[1, 1] (1.2 only): the prompt's length (fillTritonResponse, inputTokensSize)",
        ),
        Output(
            "num_output_tokens",
            I32,
            (1,),
            flag="return_num_output_tokens",
            needs_request=True,
            when="[1, 1] (1.2 only): the tokens in this response's output_ids over all beams "
            "(outputTokensSize)",
        ),
    )
}
# An output written but not declared: Triton's AddOutput fails, getResponseBuffer throws, and the response
# is sent as this error (isFinal) instead of data; output_ids/sequence_length not requested: same, with
# "<name> tensor must be present in list of output tensors".
UNDECLARED_OUTPUT_ERROR = (
    "Error encountered while populating response: Could not get response output for output "
    "tensor {name}: unexpected inference output '{name}' for model '{model}'"
)
NOT_REQUESTED_ERROR = (
    "Error encountered while populating response: {name} tensor must be present in list of output tensors"
)


def outputs_written(flags: dict, requested: set[str] | frozenset[str] | None = None) -> set[str]:
    """Outputs one data response carries, given the request's flag inputs and the outputs it requested.

    flags: return_* booleans, num_return_sequences, batch_size (of the Triton request), request_type.
    requested: output names the request asks for (an ensemble step asks for its output_map keys);
    None means every output. Raises ValueError with the backend's message if output_ids or
    sequence_length is not requested (every response would then be that error).
    """
    asked = set(OUTPUTS) if requested is None else set(requested)
    for name in ("output_ids", "sequence_length"):
        if name not in asked:
            raise ValueError(NOT_REQUESTED_ERROR.format(name=name))
    written = set()
    for out in OUTPUTS.values():
        if out.needs_request and out.name not in asked:
            continue
        if out.flag is not None and not flags.get(out.flag, False):
            continue
        if out.name == "batch_index" and int(flags.get("batch_size", 1)) <= 1:
            continue
        if out.name == "sequence_index" and int(flags.get("num_return_sequences", 1)) <= 1:
            continue
        if out.name == "context_phase_params" and flags.get("request_type") != "context_only":
            continue
        written.add(out.name)
    return written


@dataclass(frozen=True)
class OutputPlan:
    """One Triton request's outputs, decided once: the names every data response carries, in
    fillTritonResponse's order, or the error every response would be instead."""

    names: tuple[str, ...] = ()
    error: str | None = None


def plan_outputs(flags: dict, requested, declared, model: str) -> OutputPlan:
    """outputs_written in the backend's order, checked against the outputs the loaded config declares
    (a Python model's undeclared outputs are dropped silently by its stub, so a Python stand-in for the
    backend makes the check the C++ backend's write would fail)."""
    try:
        written = outputs_written(flags, set(requested))
    except ValueError as exc:  # output_ids / sequence_length not requested
        return OutputPlan(error=str(exc))
    ordered = [name for name in OUTPUTS if name in written]
    for name in ordered:
        if name not in declared:
            return OutputPlan(error=UNDECLARED_OUTPUT_ERROR.format(name=name, model=model))
    return OutputPlan(tuple(ordered))
