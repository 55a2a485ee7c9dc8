"""What the emulated backend keeps per Triton request and per executor request while they run.

backend.py creates and forgets these; control.py reads them to cancel; the writer thread marks
them answered. QueuedResponse is a response waiting in the writer's queue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..triton_io.responses import ResponseSender
from .framing import Emission, ItemFraming
from .outputs import OutputPlan


@dataclass(eq=False)
class PendingRequest:
    """One Triton request: its sender, output plan and the items (executor requests) still running."""

    sender: ResponseSender
    plan: OutputPlan
    triton_id: str
    live: set[str] = field(default_factory=set)
    cancel_sent: bool = False
    # The FINAL send frees Triton's response factory; asking is_cancelled() after it crashes
    # tritonserver 2.51 (SIGSEGV in TRITONBACKEND_ResponseFactoryIsCancelled, seen here). The lock
    # orders the two; `closed` is set with the FINAL send.
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False


@dataclass(eq=False, kw_only=True)
class PendingItem:
    """One executor request of a Triton request: how its responses are framed and where they go."""

    engine_id: str
    pending: PendingRequest
    framing: ItemFraming
    batch_index: int
    sequence_index: int | None  # num_return_sequences > 1: which sibling (TensorRT-LLM's child request)
    executor_id: int
    dead: bool = False  # its first response was an error: the backend forgot it, later ones are dropped
    lora_task: int | None = None  # its lora_task_id while it counts as in flight in the PEFT cache


class QueuedResponse:
    """A queued response: what ResponseWriter calls `write` on (its `cancelled` is not used here)."""

    cancelled = False

    def __init__(self, backend, item: PendingItem):
        self.backend = backend
        self.item = item

    def write(self, emission: Emission, at: float) -> None:
        self.backend.send(self.item, emission)
