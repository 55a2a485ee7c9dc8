"""What the LLM-API engine model keeps per Triton request and per sequence while they run.

frontend.py creates them on submit and reads them on its loop thread only (sends, cancellation
checks and stop requests all run there), so they need no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..triton_io.triton_api import TritonRequest
from .framing import SequenceFraming
from .outputs import OutputPlan
from .sampling import LlmApiCall


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
    result: object = None  # the RequestOutput once submitted
    aborted: bool = False
    key: int = field(default=0)  # its entry among the frontend's running sequences
