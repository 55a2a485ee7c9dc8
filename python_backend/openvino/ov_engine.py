"""The OpenVINO engine: the LLMEngine surface triton_io/engine_frontend.py drives (start,
submit_batch, cancel, shutdown, stats, idle, lora_info, vocab_size) over a pipeline that steps in a
process of its own (engine_process.py says why), with the same framing: a step's new tokens in an
output of their own, then exactly one empty final output (engine/outputs.py).

Requests are checked here, on the caller's thread, against the limits and everything the pipeline
would refuse (request_map.py), so refusals reach the caller; then they go to the process. One thread
sends (messages in order, and nobody else blocks on a full pipe), one reads the process's steps and
calls the callbacks. Cancelling asks the process to cancel the pipeline's request, which frees its KV
blocks at the next step and sends the final.
"""

from __future__ import annotations

import itertools
import logging
import queue
import subprocess
import threading
from collections.abc import Callable

from ..contract.limits import check_fits_context, check_prompt_length
from ..engine.admission import Member
from ..engine.config import EngineConfig
from ..engine.scheduler import QueueFullError
from ..engine.sequence import FinishReason, SamplingParams
from . import engine_process
from . import messages as msg
from . import pipeline as pipe
from .request_map import check_guide, generation_config, refuse_unmapped
from .running import EngineTotals, Running, token_output

log = logging.getLogger("triton_llm.engine")

StepObserver = Callable[[msg.Step, float], None]
FatalHandler = Callable[[BaseException], None]


class OpenVINOEngine:
    """config: the engine's limits (EngineConfig; max_loras must be 0, speculation off); settings:
    the export and its precisions. step_observer(step, seconds) runs on the reading thread after every
    step's outputs went out; on_fatal(exc) once, from that thread, after every request got its final
    output, when the process failed or died."""

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
        self.settings = settings
        self.vocab_size = settings.vocab_size
        self.totals = EngineTotals()
        self._seqs = itertools.count()
        self._active: dict[int, Running] = {}  # by the sequence number the process knows it by
        self._seq_of: dict[str, int] = {}  # request id → sequence number
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._process = None
        self._conn = None
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._cache_usage = 0.0
        self.pid: int | None = None  # the engine process's, once it is ready
        self.error: BaseException | None = None
        self.step_observer = step_observer
        self.on_fatal = on_fatal

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 600.0) -> OpenVINOEngine:
        """Start the engine process and return once its pipeline is built; RuntimeError if it is not."""
        self._process, self._conn = engine_process.spawn(self.config, self.settings)
        try:
            first = self._conn.recv() if self._conn.poll(timeout) else None
        except EOFError:
            first = None
        if not isinstance(first, msg.Ready):
            self._process.kill()
            code = self._process.wait()
            why = first.message if isinstance(first, msg.Failed) else f"exit code {code}"
            raise RuntimeError(f"the OpenVINO engine process did not start: {why}")
        self.pid = first.pid
        for target, name in ((self._send_loop, "openvino-send"), (self._read_loop, "openvino-read")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def alive(self) -> bool:
        return (
            self._process is not None
            and self._process.poll() is None
            and all(t.is_alive() for t in self._threads)
            and self.error is None
        )

    @property
    def idle(self) -> bool:
        return not self._active

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel what runs (each request gets its final), stop the process, wait for it."""
        with self._lock:
            self._stopping = True
        if self._process is None:
            return
        self._outbox.put(msg.Shutdown())
        for thread in self._threads:
            thread.join(timeout)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._conn.close()

    # -- requests ------------------------------------------------------------------------------
    def validate(self, prompt_ids: list[int], params: SamplingParams) -> None:
        """Raise ValueError naming the limit or the field the pipeline lacks or would refuse."""
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
        if params.guide is not None:
            check_guide(params.guide)
        generation_config(params)  # the pipeline's own check of the sampling fields

    def submit(self, request_id: str, prompt_ids: list[int], params: SamplingParams, callback) -> None:
        self.submit_batch([(prompt_ids, [(request_id, params, callback)])])

    def submit_batch(self, prompts: list[tuple[list[int], list[Member]]]) -> None:
        """Queue every sequence of one Triton request, all or none. Raises ValueError (bad request),
        QueueFullError (max_queue_size sequences waiting) or RuntimeError (engine stopped)."""
        planned = []
        for prompt_ids, members in prompts:
            for request_id, params, callback in members:
                self.validate(prompt_ids, params)
                planned.append((prompt_ids, request_id, params, callback))
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
                if request_id in self._seq_of:
                    raise ValueError(f"request id {request_id!r} is already in flight")
            sequences = []
            for prompt_ids, request_id, params, callback in planned:
                seq = next(self._seqs)
                self._active[seq] = Running(
                    request_id=request_id, num_prompt=len(prompt_ids), params=params, callback=callback
                )
                self._seq_of[request_id] = seq
                sequences.append(msg.NewSequence(seq, list(prompt_ids), params))
            self._outbox.put(msg.Add(sequences))

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            seq = self._seq_of.get(request_id)
        if seq is None:
            return False
        self._outbox.put(msg.Cancel(seq))
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
        running = sum(1 for r in list(self._active.values()) if r.scheduled_ns)
        return self.totals.snapshot(
            waiting=len(self._active) - running,
            running=running,
            max_num_seqs=self.config.max_num_seqs,
            cache_usage=self._cache_usage,
        )

    # -- the two threads -----------------------------------------------------------------------
    def _send_loop(self) -> None:
        try:
            while True:
                message = self._outbox.get()
                self._conn.send(message)
                if isinstance(message, msg.Shutdown):
                    return
        except OSError:  # the process is gone; the reading thread reports it
            return

    def _read_loop(self) -> None:
        try:
            while True:
                try:
                    message = self._conn.recv()
                except EOFError:
                    if self._stopping:
                        return
                    raise RuntimeError(
                        f"the OpenVINO engine process exited (code {self._process.wait(5)})"
                    ) from None
                if isinstance(message, msg.Failed):
                    raise RuntimeError(message.message)
                self._deliver(message)
        except BaseException as exc:  # the engine is dead: fail every request, report not alive
            log.error("OpenVINO engine failed: %s", exc)
            self.error = exc
            for running in list(self._active.values()):
                self._finish(running, FinishReason.ERROR)
            if self.on_fatal is not None:
                self.on_fatal(exc)

    def _deliver(self, step: msg.Step) -> None:
        """A step's new tokens to their callbacks, then the finals of the sequences that ended."""
        for update in step.updates:
            running = self._active.get(update.seq)
            if running is None:
                continue
            running.scheduled_ns = update.scheduled_ns
            if update.tokens:
                probs = tuple(update.log_probs) if running.params.return_log_probs else ()
                running.cum_log_prob += sum(probs)
                self.totals.generated += len(update.tokens)
                out = token_output(running, update.tokens, probs, step_batch=step.step_batch)
                if running.emit(out) is False and update.reason is None:
                    self._outbox.put(msg.Cancel(update.seq))
            if update.reason is not None:
                self._finish(running, update.reason)
        self._cache_usage = step.cache_usage
        if step.seconds:
            self.totals.steps += 1
        if self.step_observer is not None:
            self.step_observer(step, step.seconds)

    def _finish(self, running: Running, reason: FinishReason) -> None:
        running.done = True
        running.finish_reason = reason
        with self._lock:
            seq = self._seq_of.pop(running.request_id, None)
            self._active.pop(seq, None)
        self.totals.count_finish(running)
        running.emit(token_output(running, [], (), finished=True))
