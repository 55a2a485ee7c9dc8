"""Control of running requests, as the backend does it (trtllm_backend STOP_INPUT, CANCELLATION).

- a request with stop=true cancels the running requests that arrived with the same Triton
  request id and is itself answered with one output-less final response;
- every cancellation_check_period_ms a thread asks each pending request's response sender
  is_cancelled() (TRITONBACKEND_ResponseFactoryIsCancelled) and cancels its engine sequences.
  Inside a Triton 2.51 ensemble this never fires: the ensemble does not cancel a running step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from ..triton_io import logs
from ..triton_io.executor_inputs import STOP_WITHOUT_ID
from ..triton_io.responses import ResponseSender

log = logging.getLogger("triton_llm.trtllm_emulator")


class Controlled(Protocol):
    """What Control needs of the backend it serves (EmulatedBackend), named here so that
    control.py does not import backend.py, which builds the Control."""

    responses: Any  # the backend's response writer
    engine: Any  # the CPU engine: cancel(engine_id)

    def running(self, triton_id: str) -> set[str]: ...

    def uncancelled(self) -> Iterable: ...

    def items_of(self, pending) -> list[str]: ...


class Control:
    """The stop handler and the cancellation poll thread of one EmulatedBackend."""

    def __init__(self, backend: Controlled, cancellation_check_period_ms: int):
        self.backend = backend
        self.period_s = cancellation_check_period_ms / 1000
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_cancellation, name="cancel-poll", daemon=True)
        self.cancellations_seen = 0  # senders that reported is_cancelled(): what the poll thread saw

    def start(self) -> None:
        self._poller.start()

    def shutdown(self) -> None:
        self._stopping.set()
        self._poller.join(2.0)

    def stop(self, sender: ResponseSender, triton_id: str) -> None:
        """A stop=true request (Triton's execute thread): cancel what runs under its id, answer it."""
        responses = self.backend.responses
        if not triton_id:
            sender.send(responses.error(STOP_WITHOUT_ID), flags=responses.final_flag)
            return
        targets = self.backend.running(triton_id)
        for engine_id in targets:
            self.backend.engine.cancel(engine_id)
        logs.event(log, "stop_requested", request_id=triton_id, running=len(targets))
        sender.send(responses.empty(), flags=responses.final_flag)

    def _poll_cancellation(self) -> None:
        while not self._stopping.wait(self.period_s):
            for pending in self.backend.uncancelled():
                # Never asked after the FINAL send: that crashes tritonserver (tracking.PendingRequest).
                with pending.lock:
                    cancelled = not pending.closed and pending.sender.is_cancelled()
                if not cancelled:
                    continue
                pending.cancel_sent = True
                self.cancellations_seen += 1
                targets = self.backend.items_of(pending)
                for engine_id in targets:
                    self.backend.engine.cancel(engine_id)
                logs.event(log, "cancellation_seen", request_id=pending.triton_id, items=len(targets))
