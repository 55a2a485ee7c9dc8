"""One executor request (one item of a Triton request): CPU-engine outputs → the backend's responses.

Input, all from the engine thread: `on_tokens(ids)` for each step's new tokens, `end_of_step()`
once per engine step, `on_finish(reason)` once. Output: Emission objects, in order, each one
response the real backend would send for this item (backend_contract.FRAMING):
  - streaming: a response per engine step carrying only that step's new tokens; the last data
    response carries `final`. A sequence that ends on its end id or is cancelled ends with a
    zero-token final response (the end token is not output; a cancel clears the step's tokens);
    one that ends on request_output_len or a stop word carries its last token in the final one.
  - non-streaming: one final response with every generated token, the prompt first unless
    exclude_input_in_output (a cancelled request's generated tokens are cleared: prompt only).
  - an engine failure: one final error Emission.
Each Emission also carries the item's perf metrics at that moment (written only when the request
set return_perf_metrics; outputs.py decides), computed as python_backend/contract/perf_metrics.py
says. arrival is one clock reading per item when it is created at enqueue (the executor reads the
clock once per request when it builds the LlmRequest, at or after enqueue; neither makes the value
unique: backend_contract.ARRIVAL_TIME).

Cancellation (not in backend_contract, read in NVIDIA/TensorRT-LLM cpp/tensorrt_llm/executor/
executorImpl.cpp @036a60f7, Executor::Impl::terminateCancelledRequests): the executor finishes the
request with kCANCELLED and clearGeneratedTokens(), then populateNewResponses sends its final
result like any other: zero new tokens when streaming, the prompt only (or nothing) otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..contract import trtllm_backend as bc
from ..contract.perf_metrics import PerfMetrics
from ..engine.sequence import FinishReason

Clock = Callable[[], int]


@dataclass(frozen=True)
class Emission:
    tokens: list[int]  # the output_ids row of this response (beam 0)
    final: bool  # the executor's isFinal for this item
    perf: PerfMetrics
    error: str | None = None  # an engine failure: the response is this error instead of data


class ItemFraming:
    """The response framing of one executor request (beam width 1)."""

    def __init__(
        self,
        prompt: list[int],
        *,
        streaming: bool,
        exclude_input_in_output: bool,
        tokens_per_block: int,
        clock: Clock = time.monotonic_ns,
    ):
        self.prompt = list(prompt)
        self.streaming = streaming
        self.exclude_input_in_output = exclude_input_in_output
        self.tokens_per_block = tokens_per_block
        self.clock = clock
        self.generated: list[int] = []
        self.sent = 0  # generated tokens already carried by earlier streaming responses
        self.cached_tokens = 0
        self.arrival_ns = clock()
        self.first_scheduled_ns = 0
        self.first_token_ns = 0
        self.last_token_ns = 0
        self.finished = False

    # -- engine events -----------------------------------------------------------------------------
    def on_tokens(self, ids: list[int], cached_tokens: int = 0, step_started_ns: int = 0) -> None:
        if ids and not self.first_token_ns:
            self.first_token_ns = self.clock()
            # An idle engine starts its next step when a request arrives: never before the arrival.
            self.first_scheduled_ns = self.first_scheduled_ns or max(step_started_ns, self.arrival_ns)
        self.generated.extend(ids)
        self.cached_tokens = cached_tokens

    def end_of_step(self, step_started_ns: int) -> Emission | None:
        """A streaming response for this step's tokens, if any (the step did not finish the item)."""
        self.first_scheduled_ns = self.first_scheduled_ns or step_started_ns
        if not self.streaming or self.finished or len(self.generated) == self.sent:
            return None
        return self._emit(final=False)

    def on_finish(self, reason: FinishReason | None, error: str | None = None) -> Emission:
        self.finished = True
        self.last_token_ns = self.clock()
        if reason is FinishReason.CANCELLED:
            # clearGeneratedTokens(): this step's tokens (streaming) or all of them (not streaming) go.
            del self.generated[self.sent if self.streaming else 0 :]
        if reason is FinishReason.ERROR:
            return Emission([], True, self.perf(), error or "engine failed while generating")
        return self._emit(final=True)

    # -- responses -----------------------------------------------------------------------------------
    def _emit(self, *, final: bool) -> Emission:
        row = bc.response_tokens(
            self.prompt,
            self.generated,
            streaming=self.streaming,
            exclude_input_in_output=self.exclude_input_in_output,
            already_sent=self.sent,
        )
        self.sent = len(self.generated)
        return Emission(row, final, self.perf())

    def perf(self) -> PerfMetrics:
        return PerfMetrics.of(
            held_tokens=len(self.prompt) + len(self.generated),
            cached_tokens=self.cached_tokens,
            tokens_per_block=self.tokens_per_block,
            arrival_ns=self.arrival_ns,
            first_scheduled_ns=self.first_scheduled_ns,
            first_token_ns=self.first_token_ns,
            last_token_ns=self.last_token_ns,
        )
