"""The CPU engine: a thread that runs schedule → execute → update until stopped.

Callers (the Triton `engine` model, tests, the benchmark) submit requests with a callback; the
loop calls it from the engine thread with each step's new tokens, and exactly once with
`finished=True` (also for cancelled and failed requests). Callbacks must be quick and must not
raise; a callback that returns False asks the engine to cancel that request (e.g. the client went
away), which frees its slot in the next step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import EngineConfig
from .runner import ModelRunner
from .sampler import select_token
from .scheduler import QueueFullError, Scheduler, StepPlan
from .sequence import FinishReason, SamplingParams, Sequence

log = logging.getLogger("triton_llm.engine")

__all__ = ["LLMEngine", "TokenOutput", "QueueFullError"]


@dataclass(frozen=True)
class TokenOutput:
    request_id: str
    new_token_ids: list[int]
    finished: bool
    finish_reason: FinishReason | None
    num_prompt_tokens: int
    num_cached_tokens: int


OutputCallback = Callable[[TokenOutput], "bool | None"]


@dataclass
class _Active:
    seq: Sequence
    callback: OutputCallback
    rng: np.random.Generator


class LLMEngine:
    def __init__(self, config: EngineConfig, onnx_dir: str | Path):
        self.config = config
        self.runner = ModelRunner(onnx_dir, config.max_num_seqs, config.max_context_len, config.intra_op_threads)
        self.scheduler = Scheduler(config)
        self._active: dict[str, _Active] = {}
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.error: BaseException | None = None
        # Observability: read by metrics exporters from other threads (ints/floats; GIL-atomic).
        self.steps = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self.cancelled_total = 0
        self.rejected_total = 0
        self.step_observer: Callable[[StepPlan, float], None] | None = None
        # Called once, from the dying engine thread, after every request got its final callback.
        self.on_fatal: Callable[[BaseException], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> LLMEngine:
        self._thread = threading.Thread(target=self._loop, name="llm-engine", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.error is None

    @property
    def idle(self) -> bool:
        """No request inside the engine (queued, running or awaiting its final callback)."""
        return not self._active

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            for active in self._active.values():
                active.seq.cancel_requested = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- requests ------------------------------------------------------------------------------
    def validate(self, prompt_ids: list[int], params: SamplingParams) -> None:
        """Raise ValueError naming the limit when a request can never fit this engine."""
        limit = self.config.max_context_len
        if not prompt_ids:
            raise ValueError("input_ids: prompt must contain at least one token")
        if len(prompt_ids) >= limit:
            raise ValueError(f"input_ids: prompt has {len(prompt_ids)} tokens; the limit is {limit - 1} (max_context_len {limit} minus one generated token)")
        if len(prompt_ids) + params.max_tokens > limit:
            raise ValueError(
                f"request_output_len: prompt ({len(prompt_ids)} tokens) + max_tokens ({params.max_tokens}) "
                f"exceeds max_context_len {limit}; at most {limit - len(prompt_ids)} new tokens fit"
            )
        vocab = self.runner.shape.vocab_size
        bad = [t for t in prompt_ids if not 0 <= t < vocab]
        if bad:
            raise ValueError(f"input_ids: token id {bad[0]} out of range [0, {vocab})")

    def submit(self, request_id: str, prompt_ids: list[int], params: SamplingParams,
               callback: OutputCallback) -> None:
        """Queue a request. Raises ValueError (bad request), QueueFullError (overloaded) or
        RuntimeError (engine stopped); otherwise `callback` will see it finish exactly once."""
        self.validate(prompt_ids, params)
        seq = Sequence(request_id, list(prompt_ids), params)
        rng = np.random.default_rng(params.seed)
        with self._lock:
            if self._stopping or not self.alive:
                raise RuntimeError("engine is not running" + (f": {self.error}" if self.error else ""))
            if request_id in self._active:
                raise ValueError(f"request id {request_id!r} is already in flight")
            try:
                self.scheduler.add(seq)
            except QueueFullError:
                self.rejected_total += 1
                raise
            self._active[request_id] = _Active(seq, callback, rng)
            self._lock.notify_all()

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            active = self._active.get(request_id)
            if active is None:
                return False
            active.seq.cancel_requested = True
            self._lock.notify_all()
            return True

    def generate(self, prompt_ids: list[int], params: SamplingParams, request_id: str | None = None,
                 timeout: float = 600.0) -> tuple[list[int], FinishReason]:
        """Blocking convenience: submit, wait, return (generated ids, finish reason)."""
        done = threading.Event()
        tokens: list[int] = []
        result: dict[str, FinishReason | None] = {}

        def collect(out: TokenOutput) -> None:
            tokens.extend(out.new_token_ids)
            if out.finished:
                result["reason"] = out.finish_reason
                done.set()

        self.submit(request_id or f"generate-{id(done)}", prompt_ids, params, collect)
        if not done.wait(timeout):
            raise TimeoutError(f"generation did not finish within {timeout} s")
        return tokens, result["reason"]

    def stats(self) -> dict[str, float]:
        slots = self.scheduler.slots
        return {
            "waiting": self.scheduler.num_waiting,
            "running": len(self.scheduler.running),
            "active_requests": len(self._active),
            "slots_used": slots.num_used,
            "slots_total": slots.num_slots,
            "kv_cache_utilization": slots.num_used / slots.num_slots,
            "prefix_cache_queried_tokens": slots.queried_tokens,
            "prefix_cache_hit_tokens": slots.hit_tokens,
            "prefix_cache_hit_rate": slots.hit_rate,
            "prompt_tokens_total": self.prompt_tokens_total,
            "generation_tokens_total": self.generation_tokens_total,
            "cancelled_total": self.cancelled_total,
            "rejected_total": self.rejected_total,
            "steps": self.steps,
        }

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    while not self._stopping and not self._active:
                        self._lock.wait()
                    if self._stopping and not self._active:
                        return
                    plan = self.scheduler.schedule()
                started = time.monotonic()
                self._execute(plan)
                self.steps += 1
                if self.step_observer is not None:
                    self.step_observer(plan, time.monotonic() - started)
        except BaseException as exc:  # the engine is dead: fail every request, report not alive
            log.exception("engine loop failed")
            self.error = exc
            with self._lock:
                for active in list(self._active.values()):
                    self._finish(active, FinishReason.ERROR)
            if self.on_fatal is not None:
                self.on_fatal(exc)

    def _execute(self, plan: StepPlan) -> None:
        for seq in plan.finished:
            self.cancelled_total += 1
            self._emit(self._active[seq.request_id], [], True)
        for src, dst, length in plan.copies:
            self.runner.kv.copy_prefix(src, dst, length)
        emitted: list[tuple[_Active, int]] = []
        for chunk in plan.prefills:
            logits = self.runner.prefill(chunk.seq.slot, chunk.tokens, chunk.start)
            self.scheduler.on_prefilled(chunk)
            self.prompt_tokens_total += len(chunk.tokens)
            if chunk.completes_prompt:
                active = self._active[chunk.seq.request_id]
                emitted.append((active, self._sample(active, logits)))
        if plan.decodes:
            # Idle slots inside the batch write one throwaway entry just past what they hold
            # (after this step's prefills, so a prefilling slot's new entries are safe).
            slots = self.scheduler.slots
            rows = [(0, min(slots.held_length(s), self.runner.kv.scratch_position))
                    for s in range(max(q.slot for q in plan.decodes) + 1)]
            for seq in plan.decodes:
                rows[seq.slot] = (seq.tokens[-1], seq.num_computed)
            logits = self.runner.decode(rows)
            for seq in plan.decodes:
                self.scheduler.on_decoded(seq)
                active = self._active[seq.request_id]
                emitted.append((active, self._sample(active, logits[seq.slot])))
        for active, token in emitted:
            self._append(active, token)

    def _sample(self, active: _Active, logits: np.ndarray) -> int:
        seq, params = active.seq, active.seq.params
        forbid = params.end_ids if seq.num_generated < params.min_tokens else ()
        return select_token(logits, seq.generated_ids, params, active.rng, forbid)

    def _append(self, active: _Active, token: int) -> None:
        seq, params = active.seq, active.seq.params
        if seq.first_token_time is None:
            seq.first_token_time = time.monotonic()
        if token in params.end_ids:
            # End ids are control tokens: they finish the sequence and are not part of the output.
            self._finish(active, FinishReason.STOP)
            return
        seq.tokens.append(token)
        self.generation_tokens_total += 1
        if not self._emit(active, [token], False):
            seq.cancel_requested = True
            return
        reason = None
        if any(seq.tokens[-len(s):] == list(s) for s in params.stop_sequences if len(s) <= seq.num_generated):
            reason = FinishReason.STOP
        elif seq.num_generated >= params.max_tokens:
            reason = FinishReason.LENGTH
        elif len(seq.tokens) >= self.config.max_context_len:
            reason = FinishReason.CONTEXT
        if reason is not None:
            self._finish(active, reason)

    def _finish(self, active: _Active, reason: FinishReason) -> None:
        self.scheduler.finish(active.seq, reason)
        self._emit(active, [], True)

    def _emit(self, active: _Active, tokens: list[int], finished: bool) -> bool:
        seq = active.seq
        if finished:
            with self._lock:
                self._active.pop(seq.request_id, None)
        out = TokenOutput(seq.request_id, tokens, finished, seq.finish_reason, seq.num_prompt, seq.num_cached)
        try:
            return active.callback(out) is not False
        except Exception:
            log.exception("output callback of request %s failed; cancelling it", seq.request_id)
            return False
