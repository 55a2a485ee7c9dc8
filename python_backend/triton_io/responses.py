"""The engine model's response side: one `ResponseStream` per sequence, sent by one `ResponseWriter`.

The engine thread never talks to Triton: each output goes onto the writer's queue, and the writer
thread sends it (every send and cancellation check is an IPC round trip to Triton, which would
otherwise stall every stream's next step). One thread, FIFO, so a request's responses keep their
order. Nothing here imports Triton: responses are built by a ResponseBuilder (triton_api.py) from
the tensors engine_outputs.py lays out.

Framing (the CPU engine's): streaming → the first token in a response of its own, then as
stream_framing.py decides (`stream_interval` tokens per response, or by load: "auto"), and the last
tokens with the final one; otherwise one final response with every token.

A request that failed in the engine gets an INTERNAL error instead of its final response.
num_return_sequences > 1, or a batch of several prompts: one stream per sequence, all on the
request's sender; each response names its sequence (sequence_index) and prompt (batch_index), and
only the response that ends the last of them carries the FINAL flag (TensorRT-LLM's framing).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..contract.perf_metrics import PerfMetrics
from ..engine.llm_engine import TokenOutput
from ..engine.sequence import FinishReason
from . import logs, stream_framing
from .engine_outputs import Extras, LogProbs, output_tensors
from .triton_api import ResponseBuilder, ResponseSender, Status

log = logging.getLogger("triton_llm.engine")


class LatencyHistograms(Protocol):
    ttft: object  # .observe(seconds)
    itl: object


@dataclass(frozen=True)
class Asked:
    """The optional outputs a request asked for, by TensorRT-LLM's return_* inputs."""

    log_probs: bool = False  # return_log_probs
    logits: bool = False  # return_generation_logits
    context_logits: bool = False  # return_context_logits
    num_input_tokens: bool = False  # return_num_input_tokens
    num_output_tokens: bool = False  # return_num_output_tokens
    perf_metrics: bool = False  # return_perf_metrics: the eight beside the two always written


@dataclass(frozen=True)
class StreamSettings:
    """What every stream of one engine model instance shares."""

    responses: ResponseBuilder
    metrics: LatencyHistograms
    vocab_size: int  # generation_logits' last dim
    # streaming: tokens per response after the first; None: by load (stream_framing.py;
    # EngineModelConfig.stream_interval "auto", its fixed_stream_interval)
    stream_interval: int | None = 1


class ArrivalClock:
    """Arrival in CLOCK_MONOTONIC ns, as TensorRT-LLM's steady clock (contract/perf_metrics.py),
    strictly increasing, so it is unique per request in this process (postprocessing keys its
    streaming state by it)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(time.monotonic_ns(), self._last + 1)
            return self._last


class Siblings:
    """The sequences of one request still running: the one that ends last sends FINAL."""

    def __init__(self, count: int) -> None:
        self.running = count
        self._lock = threading.Lock()

    def finish_one(self) -> bool:
        """Record one sequence's end; True for the last."""
        with self._lock:
            self.running -= 1
            return self.running == 0


class ResponseStream:
    """One sequence's responses: latency metrics, the structured log line, sends, cancellation.

    prefix_ids: the prompt when not streaming and not excluded (output_ids starts with it);
    on_finished(arrival_ns): called once, when the last sequence of the request ends;
    sequence_index: None for a single-sequence request (no sequence_index output, as TensorRT-LLM);
    batch_index: None for a request of one prompt (no batch_index output, likewise);
    siblings: shared by every sequence of one request (a fresh one for a single sequence)."""

    def __init__(
        self,
        sender: ResponseSender,
        settings: StreamSettings,
        *,
        streaming: bool,
        prefix_ids: list[int],
        arrival_ns: int,
        on_finished: Callable[[int], None],
        asked: Asked = Asked(),
        sequence_index: int | None = None,
        batch_index: int | None = None,
        siblings: Siblings | None = None,
    ):
        self.sender = sender
        self.settings = settings
        self.responses = settings.responses
        self.metrics = settings.metrics
        self.streaming = streaming
        self.arrival_ns = arrival_ns
        self.on_finished = on_finished
        self.sequence_index = sequence_index
        self.batch_index = batch_index
        self.siblings = siblings or Siblings(1)
        self.asked = asked
        self._clear()
        if not streaming:
            self.collected = list(prefix_ids)
        self.arrival = time.monotonic()
        self.first: float | None = None
        self.last: float | None = None
        self.sent_at = self.arrival  # when the latest response went out (its output's time)
        self.generated = 0  # tokens generated so far, for the KV blocks of the perf outputs
        self.cancelled = False
        # Outputs handed to the writer and not written yet: the engine thread adds, the writer takes.
        self.backlog = 0
        self._backlog_lock = threading.Lock()

    def write(self, out: TokenOutput, at: float) -> None:
        """The writer thread's call for each output engine_callback queued: frame it, knowing whether
        a later output of this stream already waits behind it."""
        with self._backlog_lock:
            self.backlog -= 1
            behind = self.backlog > 0
        self.frame(out, at, behind=behind)

    def frame(self, out: TokenOutput, at: float, *, behind: bool = False) -> None:
        """Send what one engine output completes. behind: a later output of this stream already
        waits for the writer (stream_interval None holds the tokens for it)."""
        if out.new_token_ids:
            if self.last is None:
                self.first = at
                self.metrics.ttft.observe(at - self.arrival)
            else:
                self.metrics.itl.observe(at - self.last)
            self.last = at
            self.generated += len(out.new_token_ids)
        final = 0
        if out.finished:
            if self.siblings.finish_one():
                final = self.responses.final_flag
                self.on_finished(self.arrival_ns)
            self._log_finished(out, at)
            if out.finish_reason is FinishReason.ERROR:
                error = self.responses.error(
                    "engine failed while generating; see server log", Status.INTERNAL
                )
                self.sender.send(error, flags=final)
                return
        self.collected.extend(out.new_token_ids)
        if self.log_probs is not None:
            self.log_probs.extend(out.log_probs)
        if self.logits is not None:
            self.logits.extend(out.generation_logits)
        if out.context_logits is not None:
            self.context_logits = out.context_logits
        if not (out.finished or self.streaming and self._stream_due(out.step_batch, at, behind)):
            return
        tensors = output_tensors(self.collected, self.arrival_ns, self._extras(out), self.settings.vocab_size)
        self.sender.send(self.responses.data(tensors), flags=final)
        self.sent_at = at
        if self.streaming:
            self._clear()
        if not out.finished and not self.cancelled:
            self.cancelled = self.sender.is_cancelled()

    def _clear(self) -> None:
        """Start the next response. It carries `collected`: non-streaming, the prompt (unless
        excluded), then every token; streaming, the tokens not sent yet. With them, when asked,
        their log probs (the prompt has none) and logits rows, and the context logits."""
        self.collected: list[int] = []
        self.log_probs: list[float] | None = [] if self.asked.log_probs else None
        self.logits: list | None = [] if self.asked.logits else None
        self.context_logits = None

    def _stream_due(self, step_batch: int, at: float, behind: bool) -> bool:
        return stream_framing.due(
            held=len(self.collected),
            first=len(self.collected) == self.generated,
            interval=self.settings.stream_interval,
            step_batch=step_batch,
            behind=behind,
            since_sent=at - self.sent_at,
        )

    def _extras(self, out: TokenOutput) -> Extras:
        """The optional outputs of the response that carries `collected`."""
        asked = self.asked
        return Extras(
            cached_tokens=out.num_cached_tokens,
            log_probs=LogProbs(self.log_probs, out.cum_log_prob) if asked.log_probs else None,
            logits=self.logits,
            context_logits=self.context_logits if asked.context_logits else None,
            sequence_index=self.sequence_index,
            batch_index=self.batch_index,
            num_input_tokens=out.num_prompt_tokens if asked.num_input_tokens else None,
            num_output_tokens=len(self.collected) if asked.num_output_tokens else None,
            perf=self._perf(out) if asked.perf_metrics else None,
        )

    def _perf(self, out: TokenOutput) -> PerfMetrics:
        def ns(at: float | None) -> int:  # time.monotonic() is CLOCK_MONOTONIC, as monotonic_ns
            return round(at * 1e9) if at is not None else 0

        return PerfMetrics.of(
            held_tokens=out.num_prompt_tokens + self.generated,
            cached_tokens=out.num_cached_tokens,
            tokens_per_block=1,
            arrival_ns=self.arrival_ns,
            first_scheduled_ns=out.scheduled_ns,
            first_token_ns=ns(self.first),
            last_token_ns=ns(self.last) if out.finished else 0,
            draft_tokens=out.draft_tokens,
            accepted_draft_tokens=out.accepted_draft_tokens,
        )

    def _log_finished(self, out: TokenOutput, at: float) -> None:
        logs.event(
            log,
            "request_finished",
            request_id=out.request_id,
            prompt_tokens=out.num_prompt_tokens,
            cached_prompt_tokens=out.num_cached_tokens,
            reason=out.finish_reason.value if out.finish_reason else None,
            ttft_s=round(self.first - self.arrival, 4) if self.first else None,
            e2e_s=round(at - self.arrival, 4),
            streaming=self.streaming,
        )

    def engine_callback(self, writer: ResponseWriter) -> Callable[[TokenOutput], bool]:
        """The engine-thread callback: note the time, queue the output for the writer, and return
        False (cancel) once the writer saw the client go away."""

        def respond(out: TokenOutput) -> bool:
            with self._backlog_lock:
                self.backlog += 1
            writer.put(self, out, time.monotonic())
            return out.finished or not self.cancelled

        return respond


class ResponseWriter:
    """The thread that sends every request's responses, in the order the engine produced them: it
    calls `write(out, at)` on what was put (a ResponseStream, or the TensorRT-LLM emulator's)."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="response-writer", daemon=True)
        self._thread.start()

    def put(self, stream: ResponseStream, out: TokenOutput, at: float) -> None:
        self._queue.put((stream, out, at))

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            stream, out, at = item
            try:
                stream.write(out, at)
            except Exception:  # a broken client must not stop the writer for everyone else
                log.exception("sending a response of %s failed", out.request_id)
                stream.cancelled = True
