"""What the LLM-API engine model holds while requests run, and how they are stopped: by a stop request
naming their Triton request id, by a client seen cancelled, or at close.

A request is entered here on the loop in the order Triton handed it to execute(): the frontend queues
`enter` with call_soon_threadsafe before it returns from submit, and a stop request is queued the same
way, so a stop always finds every request of its id that execute() took before it, even one whose
sequences are not yet submitted to the LLM (asyncio runs call_soon_threadsafe callbacks in order,
while a coroutine's first step runs only after the callbacks already queued). Such a request is
marked stopped and each of its sequences is aborted as soon as it is submitted.

Everything here runs on the frontend's loop thread, except `count()` and `adapters()` (read by the
metrics thread: a len() and a tuple() of a dict, whole under the GIL).
"""

from __future__ import annotations

import itertools

from .tracking import Pending, Sequence


class InFlight:
    def __init__(self) -> None:
        self._requests: dict[Pending, list[Sequence]] = {}  # entered, with their sequences not ended
        self._submitted: dict[int, Sequence] = {}  # submitted to the LLM and not ended, by key
        self._keys = itertools.count(1)

    # -- a request's life ---------------------------------------------------------------------------
    def enter(self, pending: Pending, sequences: list[Sequence]) -> None:
        self._requests[pending] = list(sequences)

    def submitted(self, seq: Sequence) -> None:
        """seq.result is set: it now runs in the LLM (aborted at once if its request was stopped)."""
        seq.key = next(self._keys)
        self._submitted[seq.key] = seq
        if seq.pending.cancel_seen:
            abort(seq)

    def ended(self, seq: Sequence) -> None:
        """The sequence's run is over, whichever way (it no longer counts as stopped by anything)."""
        self._submitted.pop(seq.key, None)
        running = self._requests.get(seq.pending)
        if running is not None and seq in running:
            running.remove(seq)
            if not running:
                del self._requests[seq.pending]

    # -- stopping ----------------------------------------------------------------------------------
    def stop(self, triton_id: str) -> int:
        """Stop the requests with this Triton request id: the sequences it stopped (not yet ended)."""
        return sum(self._stop(p) for p in list(self._requests) if p.request.request_id() == triton_id)

    def cancelled_by_clients(self) -> list[tuple[Pending, int]]:
        """Stop each request whose client is newly seen cancelled: (request, sequences it stopped).
        Only requests with a sequence running in the LLM are asked (is_cancelled() is a call into
        Triton: none is made for a request execute() may still be handing over)."""
        seen = []
        for pending in {id(s.pending): s.pending for s in self._submitted.values()}.values():
            if pending.closed or pending.cancel_seen or not pending.request.sender.is_cancelled():
                continue
            seen.append((pending, self._stop(pending)))
        return seen

    def abort_all(self) -> None:
        for seq in list(self._submitted.values()):
            abort(seq)

    def _stop(self, pending: Pending) -> int:
        pending.cancel_seen = True
        running = self._requests.get(pending, [])
        for seq in running:
            abort(seq)  # one not yet submitted is aborted by submitted()
        return len(running)

    # -- any thread --------------------------------------------------------------------------------
    def count(self) -> int:
        """Sequences submitted to the LLM and not ended."""
        return len(self._submitted)

    def adapters(self) -> list[str]:
        """The adapters of the sequences submitted and not ended."""
        return sorted({s.lora.name for s in tuple(self._submitted.values()) if s.lora is not None})


def abort(seq: Sequence) -> None:
    """Abort the sequence in the LLM's executor (RequestOutput.abort()), once; not yet submitted: no-op."""
    if not seq.aborted and seq.result is not None:
        seq.aborted = True
        seq.result.abort()
