"""How many sequences the LLM-API engine model holds, bounded as the C++ path bounds its executor.

The LLM API queues every generate_async call without bound, and the engine model's execute() returns
at once (decoupled), so Triton's own queue policy never fills either: without a bound of ours an
overloaded server would queue forever and the gateway would never answer 429. The C++ backend's
executor refuses a request when its queue (requests not yet scheduled) is full (bc.EXECUTOR_QUEUE);
the C++ path's emulator counts it as its scheduler does (contract QUEUE_FULL, trtllm_emulator/backend.py,
engine/scheduler.py add): up to max_batch_size sequences run, up to max_queue_size wait, a request's
sequences are admitted all or none. The LLM API does not say which of its requests wait, so the bound
here is on the sum: a request is refused when the sequences held (submitted and not finished) plus its
own would pass max_queue_size + max_batch_size. max_queue_size 0: no bound (as Triton's queue policy).

Also the counts behind the engine models' leak and cancel families (metrics.py EngineCounts):
sequences held (0 when idle) and sequences cancelled (aborted for a cancelled client or a stop
request; not those cut by a stop word).
"""

from __future__ import annotations

import threading

from ..contract.trtllm_backend.executor import QUEUE_FULL  # the C++ backend's refusal, word for word


class Admission:
    """Admits and releases sequences from any thread (execute thread and the frontend's loop)."""

    def __init__(self, max_queue_size: int = 0, max_batch_size: int = 0):
        if max_queue_size < 0 or max_batch_size < 0:
            raise ValueError(
                f"max_queue_size ({max_queue_size}) and max_batch_size ({max_batch_size}) must be >= 0"
            )
        self.max_queue_size = max_queue_size
        self.bound = max_queue_size + max_batch_size if max_queue_size else None
        self._held = 0
        self._cancelled = 0
        self._lock = threading.Lock()

    @property
    def refusal(self) -> str:
        return QUEUE_FULL.format(size=self.max_queue_size)

    def admit(self, count: int) -> bool:
        """Hold `count` sequences of one request, or none of them (False: refuse the request)."""
        with self._lock:
            if self.bound is not None and self._held + count > self.bound:
                return False
            self._held += count
            return True

    def release(self, count: int = 1) -> None:
        with self._lock:
            self._held -= count

    def cancelled(self, count: int = 1) -> None:
        with self._lock:
            self._cancelled += count

    def counts(self) -> tuple[int, int]:
        """(sequences held, sequences cancelled so far)."""
        with self._lock:
            return self._held, self._cancelled
