"""The OpenVINO engine: a thread that runs the pipeline's `step()` and hands each sequence's new
tokens to its callback, with the LLMEngine surface triton_io/engine_frontend.py drives (start,
submit_batch, cancel, shutdown, stats, idle, lora_info, vocab_size) and the same framing: a step's
new tokens in an output of their own, then exactly one empty final output (engine/outputs.py).

The pipeline schedules, batches, caches and samples; this loop only connects it to the callbacks. A
request is added to the pipeline at submit (its add_request is safe from any thread), so the
pipeline's own refusals reach the caller. Cancelling calls the handle's cancel(), which frees the
sequence's KV blocks at the next step.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import openvino as ov
import openvino_genai as genai

from ..contract.errors import InputError
from ..contract.limits import check_fits_context, check_prompt_length
from ..engine.admission import Member
from ..engine.config import EngineConfig
from ..engine.scheduler import QueueFullError
from ..engine.sequence import FinishReason, SamplingParams
from . import pipeline as pipe
from .finish import Kept, keep
from .request_map import generation_config, refuse_unmapped
from .running import EngineTotals, Running, token_output

log = logging.getLogger("triton_llm.engine")

StepObserver = Callable[[None, float], None]
FatalHandler = Callable[[BaseException], None]
RUNNING = genai.GenerationStatus.RUNNING


class OpenVINOEngine:
    """config: the engine's limits (EngineConfig; max_loras must be 0, speculation off); settings:
    the export and its precisions. step_observer(None, seconds) runs on the engine thread after every
    step; on_fatal(exc) once, from the dying engine thread, after every request got its final output."""

    def __init__(
        self,
        config: EngineConfig,
        settings: pipe.OpenVINOSettings,
        step_observer: StepObserver | None = None,
        on_fatal: FatalHandler | None = None,
    ):
        if config.max_loras:
            raise ValueError(f"max_loras {config.max_loras}: the OpenVINO engine serves no LoRA adapters")
        if config.speculative_draft_len:
            raise ValueError(
                f"speculative_draft_len {config.speculative_draft_len}: the OpenVINO engine"
                " does not speculate"
            )
        self.config = config
        self.vocab_size = settings.vocab_size
        self.pipeline = pipe.build(config, settings)
        self.totals = EngineTotals()
        self._ids = itertools.count()
        self._active: dict[str, Running] = {}
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.error: BaseException | None = None
        self.step_observer = step_observer
        self.on_fatal = on_fatal

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> OpenVINOEngine:
        self._thread = threading.Thread(target=self._loop, name="openvino-engine", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.error is None

    @property
    def idle(self) -> bool:
        return not self._active

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            for running in self._active.values():
                running.cancel_requested = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- requests ------------------------------------------------------------------------------
    def validate(self, prompt_ids: list[int], params: SamplingParams) -> None:
        """Raise ValueError naming the limit or the field the pipeline lacks."""
        limit = self.config.max_seq_len
        check_prompt_length(len(prompt_ids), limit - 1, limit, field="input_ids")
        check_fits_context(len(prompt_ids), params.max_tokens, limit, field="request_output_len")
        refuse_unmapped(params)
        vocab = self.vocab_size
        for field, ids in (
            ("input_ids", prompt_ids),
            ("stop_words_list", [t for s in params.stop_sequences for t in s]),
            ("end_id", list(params.end_ids)),
        ):
            bad = [t for t in ids if not 0 <= t < vocab]
            if bad:
                raise ValueError(f"{field}: token id {bad[0]} out of range [0, {vocab})")

    def submit(self, request_id: str, prompt_ids: list[int], params: SamplingParams, callback) -> None:
        self.submit_batch([(prompt_ids, [(request_id, params, callback)])])

    def submit_batch(self, prompts: list[tuple[list[int], list[Member]]]) -> None:
        """Queue every sequence of one Triton request, all or none. Raises ValueError (bad request),
        QueueFullError (max_queue_size sequences waiting) or RuntimeError (engine stopped)."""
        planned = []
        for prompt_ids, members in prompts:
            for request_id, params, callback in members:
                self.validate(prompt_ids, params)
                planned.append((prompt_ids, request_id, params, callback, generation_config(params)))
        with self._lock:
            if self._stopping or not self.alive:
                raise RuntimeError("engine is not running" + (f": {self.error}" if self.error else ""))
            waiting = sum(1 for r in self._active.values() if r.scheduled_ns == 0)
            if waiting + len(planned) > self.config.max_queue_size:
                self.totals.rejected += 1
                raise QueueFullError(
                    f"engine queue is full ({self.config.max_queue_size} sequences waiting); retry later"
                )
            for _, request_id, *_ in planned:
                if request_id in self._active:
                    raise ValueError(f"request id {request_id!r} is already in flight")
            added: list[Running] = []
            try:
                for prompt_ids, request_id, params, callback, generation in planned:
                    added.append(self._add(prompt_ids, request_id, params, callback, generation))
            except RuntimeError as exc:  # the pipeline refused it (its message names the field)
                for running in added:
                    running.handle.cancel()
                raise InputError(f"sampling parameters: the OpenVINO pipeline refuses them: {exc}") from None
            for running in added:
                self._active[running.request_id] = running
            self._lock.notify_all()

    def _add(self, prompt_ids, request_id, params, callback, generation) -> Running:
        tensor = ov.Tensor(np.asarray([prompt_ids], dtype=np.int64))
        handle = self.pipeline.add_request(next(self._ids), tensor, generation)
        return Running(
            request_id=request_id, num_prompt=len(prompt_ids), params=params, callback=callback, handle=handle
        )

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            running = self._active.get(request_id)
            if running is None:
                return False
            running.cancel_requested = True
            self._lock.notify_all()
            return True

    def generate(self, prompt_ids: list[int], params: SamplingParams, timeout: float = 600.0):
        """Blocking convenience: submit, wait, return (generated ids, finish reason)."""
        done = threading.Event()
        tokens: list[int] = []
        result: dict[str, FinishReason | None] = {}

        def collect(out) -> None:
            tokens.extend(out.new_token_ids)
            if out.finished:
                result["reason"] = out.finish_reason
                done.set()

        self.submit(f"generate-{id(done)}", prompt_ids, params, collect)
        if not done.wait(timeout):
            raise TimeoutError(f"generation did not finish within {timeout} s")
        return tokens, result["reason"]

    def lora_info(self) -> dict:
        """No adapters (the families LoRA metrics read stay empty)."""
        return {"max_lora": 0, "running": [], "waiting": [], "resident": [], "loaded": []}

    def stats(self) -> dict[str, float]:
        """The gauges and counters engine/stats.py snapshot() reports, as far as the pipeline tells:
        its cache usage stands for slot use; it does not report prefix-cache hits."""
        metrics = self.pipeline.get_metrics()
        running = sum(1 for r in list(self._active.values()) if r.scheduled_ns)
        return self.totals.snapshot(
            waiting=len(self._active) - running,
            running=running,
            max_num_seqs=self.config.max_num_seqs,
            cache_usage=metrics.cache_usage / 100.0,
        )

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    while not self._stopping and not self._active:
                        self._lock.wait()
                    if self._stopping and not self._active:
                        return
                    batch = list(self._active.values())
                started = time.monotonic()
                for running in batch:
                    if running.cancel_requested:
                        running.handle.cancel()
                        self._finish(running, FinishReason.CANCELLED)
                if self.pipeline.has_non_finished_requests():
                    self.pipeline.step()
                    self.totals.steps += 1
                read = [(running, *self._read(running)) for running in batch if not running.done]
                # the sequences that got tokens in this step (TokenOutput.step_batch), as the ONNX
                # engine counts them: its "auto" stream framing reads it
                step_batch = sum(1 for _, kept, _ in read if kept.tokens)
                for running, kept, log_probs in read:
                    self._hand_out(running, kept, log_probs, step_batch)
                if self.step_observer is not None:
                    self.step_observer(None, time.monotonic() - started)
        except BaseException as exc:  # the engine is dead: fail every request, report not alive
            log.exception("engine loop failed")
            self.error = exc
            for running in list(self._active.values()):
                self._finish(running, FinishReason.ERROR)
            if self.on_fatal is not None:
                self.on_fatal(exc)

    def _read(self, running: Running) -> tuple[Kept, list[float]]:
        """What the pipeline generated for this sequence since the last step, under the finish rules
        (finish.keep), and the log probs of those tokens."""
        if not running.scheduled_ns:
            running.scheduled_ns = time.monotonic_ns()
        handle = running.handle
        new, log_probs = [], []
        while handle.can_read():
            for output in handle.read().values():
                new.extend(output.generated_ids)
                log_probs.extend(output.generated_log_probs)
        return keep(running.generated, new, running.params), log_probs

    def _hand_out(self, running: Running, kept: Kept, log_probs: list[float], step_batch: int) -> None:
        """The sequence's new tokens to its callback, then its final output when a rule ended it."""
        handle = running.handle
        if kept.tokens:
            probs = tuple(log_probs[: len(kept.tokens)]) if running.params.return_log_probs else ()
            running.cum_log_prob += sum(probs)
            self.totals.generated += len(kept.tokens)
            out = token_output(running, kept.tokens, probs, step_batch=step_batch)
            if running.emit(out) is False:
                running.cancel_requested = True
        if kept.reason is not None:
            if handle.get_status() == RUNNING:  # a stop sequence: the pipeline runs on without it
                handle.cancel()
            self._finish(running, kept.reason)
        elif handle.get_status() != RUNNING:  # finished without a rule of ours: memory ran out
            self._finish(running, FinishReason.ERROR)

    def _finish(self, running: Running, reason: FinishReason) -> None:
        running.done = True
        running.finish_reason = reason
        with self._lock:
            self._active.pop(running.request_id, None)
        self.totals.count_finish(running)
        running.emit(token_output(running, [], (), finished=True))
