"""What the LLM-API engine model keeps per Triton request and per sequence while they run, and how
a parsed request becomes them.

frontend.py creates them on submit and reads them on its loop thread only (sends, cancellation
checks and stop requests all run there), so they need no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..contract.errors import InputError, UnknownAdapterError
from ..triton_io.triton_api import TritonRequest
from . import outputs, sampling
from .framing import SequenceFraming
from .lora import AdapterRef, Adapters
from .outputs import OutputPlan
from .requests import ParsedRequest, Unsupported
from .sampling import LlmApiCall
from .stops import StopMatcher


@dataclass(eq=False)
class Pending:
    """One Triton request: its sender, output plan, and how many of its sequences still run."""

    request: TritonRequest
    plan: OutputPlan
    live: int
    closed: bool = False  # the FINAL response was sent
    cancel_seen: bool = False


@dataclass(eq=False, kw_only=True)
class Sequence:
    """One generate_async call of a Triton request (a batch row, or one sibling of it)."""

    pending: Pending
    call: LlmApiCall
    framing: SequenceFraming
    batch_index: int
    sequence_index: int | None
    streaming: bool
    lora: AdapterRef | None = None  # the row's adapter; None: the base model
    result: object = None  # the RequestOutput once submitted
    aborted: bool = False
    key: int = field(default=0)  # its entry among the sequences submitted (inflight.py)
    counted: int = 0  # generated tokens already added to its adapter's token counter


def sequences(
    request: TritonRequest,
    parsed: ParsedRequest,
    *,
    declared: set[str],
    model_name: str,
    guided_decoding: bool,
    adapters: Adapters,
) -> tuple[Pending, list[Sequence]]:
    """The Triton request's Pending and one Sequence per generate_async call (rows x siblings).
    A row's adapter not in the directory raises UnknownAdapterError (NOT_FOUND), a lora_name the
    model cannot take Unsupported (INVALID_ARG): nothing of the request is submitted then."""
    plan = outputs.plan_outputs(parsed.flags, request.requested_output_names(), declared, model_name)
    count = parsed.num_return_sequences
    out = []
    pending = Pending(request, plan, live=0)
    for batch_index, row in enumerate(parsed.rows):
        lora = None if row.lora_name is None else _resolve(adapters, row.lora_name)
        calls = sampling.calls(row, count, flags=parsed.flags, guided_decoding=guided_decoding)
        for sibling, call in enumerate(calls):
            framing = SequenceFraming(
                call.prompt,
                streaming=parsed.streaming,
                exclude_input_in_output=row.exclude_input_in_output,
                end_id=call.sampling["end_id"],
                stops=StopMatcher(call.stop_sequences),
            )
            out.append(
                Sequence(
                    pending=pending,
                    call=call,
                    framing=framing,
                    batch_index=batch_index,
                    sequence_index=sibling if count > 1 else None,
                    streaming=parsed.streaming or bool(call.stop_sequences),
                    lora=lora,
                )
            )
    pending.live = len(out)
    return pending, out


def _resolve(adapters: Adapters, name: str) -> AdapterRef:
    try:
        return adapters.resolve(name)
    except UnknownAdapterError:
        raise
    except InputError as exc:
        raise Unsupported(str(exc)) from None
