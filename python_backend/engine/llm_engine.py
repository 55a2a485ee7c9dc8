"""The CPU engine: a thread that runs `scheduler.schedule()` → `runner.run(plan)` →
`scheduler.update(plan, sampled)` until stopped, and hands each step's outputs to the requests.

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

from ..contract.errors import InputError
from ..contract.limits import check_context_logits, check_fits_context, check_prompt_length
from .config import EngineConfig
from .grammar import GrammarCompiler
from .runner import VERIFY_UNAVAILABLE, ModelRunner
from .scheduler import QueueFullError, Scheduler, SequenceOutput, StepPlan
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
    # return_log_probs: the log prob of each of new_token_ids, and the sum over every token
    # generated so far (TensorRT-LLM's output_log_probs / cum_log_probs); empty and 0 otherwise.
    log_probs: tuple[float, ...] = ()
    cum_log_prob: float = 0.0
    # return_generation_logits: the logits row [vocab] of each of new_token_ids (TensorRT-LLM's
    # generation_logits); empty otherwise.
    generation_logits: tuple[np.ndarray, ...] = ()
    # return_context_logits: the logits at each prompt position [prompt, vocab], on the first output
    # (TensorRT-LLM's context_logits); None otherwise.
    context_logits: np.ndarray | None = None
    scheduled_ns: int = 0  # time.monotonic_ns() when the sequence was first scheduled (0: not yet)
    # speculative decoding so far: draft tokens verified, and how many of them were kept
    draft_tokens: int = 0
    accepted_draft_tokens: int = 0


OutputCallback = Callable[[TokenOutput], "bool | None"]
Member = tuple[str, SamplingParams, OutputCallback]  # one sequence of a request: id, params, callback
StepObserver = Callable[[StepPlan, float], None]
FatalHandler = Callable[[BaseException], None]


@dataclass
class _Active:
    seq: Sequence
    callback: OutputCallback


class LLMEngine:
    """step_observer(plan, seconds) runs on the engine thread after every step (keep it cheap);
    on_fatal(exc) runs once, from the dying engine thread, after every request got its final
    callback. tokenizer_info_path (contract/tokenizer_info.py) turns guided decoding on; without
    it a request with a guide is refused."""

    def __init__(
        self,
        config: EngineConfig,
        onnx_dir: str | Path,
        step_observer: StepObserver | None = None,
        on_fatal: FatalHandler | None = None,
        tokenizer_info_path: str | Path | None = None,
    ):
        self.config = config
        self.runner = ModelRunner(
            onnx_dir, config.max_num_seqs, config.max_context_len, config.intra_op_threads
        )
        if config.speculative_draft_len and not self.runner.can_verify:
            raise ValueError(f"speculative_draft_len {config.speculative_draft_len}: {VERIFY_UNAVAILABLE}")
        self.grammars = (
            GrammarCompiler(Path(tokenizer_info_path), self.runner.shape.vocab_size)
            if tokenizer_info_path
            else None
        )
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
        self.draft_tokens_total = self.accepted_draft_tokens_total = 0  # speculative decoding
        self.step_observer = step_observer
        self.on_fatal = on_fatal

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
        check_prompt_length(len(prompt_ids), limit - 1, limit, field="input_ids")
        check_fits_context(len(prompt_ids), params.max_tokens, limit, field="request_output_len")
        vocab = self.runner.shape.vocab_size
        check_context_logits(params.return_context_logits, len(prompt_ids))
        if params.speculative_draft_len and not self.runner.can_verify:
            raise InputError(f"speculative_draft_len: this engine cannot verify drafts: {VERIFY_UNAVAILABLE}")
        for field, ids in (
            ("input_ids", prompt_ids),
            ("bad_words_list", [t for s in params.bad_sequences for t in s]),
            ("stop_words_list", [t for s in params.stop_sequences for t in s]),
            ("end_id", list(params.end_ids)),
            ("embedding_bias", [t for t, _ in params.logit_bias]),
        ):
            bad = [t for t in ids if not 0 <= t < vocab]
            if bad:
                raise ValueError(f"{field}: token id {bad[0]} out of range [0, {vocab})")

    def submit(
        self, request_id: str, prompt_ids: list[int], params: SamplingParams, callback: OutputCallback
    ) -> None:
        """Queue a request. Raises ValueError (bad request), QueueFullError (overloaded) or
        RuntimeError (engine stopped); otherwise `callback` will see it finish exactly once."""
        self.submit_batch([(prompt_ids, [(request_id, params, callback)])])

    def submit_batch(self, prompts: list[tuple[list[int], list[Member]]]) -> None:
        """Queue every sequence of one Triton request, all or none, as submit() does one: for each
        prompt of its batch, its sequences (num_return_sequences). A prompt's first sequence computes
        the prompt; the others copy its KV (scheduler.schedule)."""
        total = sum(len(members) for _, members in prompts)
        if total > self.config.max_queue_size:  # could never be admitted, even by an idle engine
            raise ValueError(
                f"num_return_sequences: {total} sequences in one request (batch × num_return_sequences); "
                f"this engine queues at most {self.config.max_queue_size}"
            )
        seqs, callbacks = [], []
        for prompt_ids, members in prompts:
            leader = None
            for request_id, params, callback in members:
                self.validate(prompt_ids, params)
                seq = Sequence(request_id, list(prompt_ids), params, leader=leader)
                leader = leader or seq
                if params.guide is not None:
                    if self.grammars is None:
                        raise InputError(
                            "guided_decoding_guide_type: guided decoding is not enabled on this engine "
                            "(no xgrammar_tokenizer_info_path)"
                        )
                    # Compiled here, on the caller's thread, so a new schema never stalls the engine loop.
                    seq.grammar = self.grammars.matcher(params.guide, params.end_ids, params.stop_sequences)
                seqs.append(seq)
                callbacks.append(callback)
        with self._lock:
            if self._stopping or not self.alive:
                raise RuntimeError("engine is not running" + (f": {self.error}" if self.error else ""))
            for seq in seqs:
                if seq.request_id in self._active:
                    raise ValueError(f"request id {seq.request_id!r} is already in flight")
            try:
                self.scheduler.add(*seqs)
            except QueueFullError:
                self.rejected_total += 1
                raise
            for seq, callback in zip(seqs, callbacks, strict=True):
                self._active[seq.request_id] = _Active(seq, callback)
            self._lock.notify_all()

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            active = self._active.get(request_id)
            if active is None:
                return False
            active.seq.cancel_requested = True
            self._lock.notify_all()
            return True

    def generate(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        request_id: str | None = None,
        timeout: float = 600.0,
    ) -> tuple[list[int], FinishReason]:
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
            "draft_tokens_total": self.draft_tokens_total,
            "accepted_draft_tokens_total": self.accepted_draft_tokens_total,
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
                sampled = self.runner.run(plan)
                outputs = self.scheduler.update(plan, sampled)
                self._count(plan, sampled, outputs)
                self._deliver(outputs)
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

    def _count(self, plan: StepPlan, sampled: dict, outputs: list[SequenceOutput]) -> None:
        self.cancelled_total += len(plan.finished)
        self.prompt_tokens_total += sum(len(c.tokens) for c in plan.prefills)
        self.generation_tokens_total += sum(len(o.new_token_ids) for o in outputs)
        self.draft_tokens_total += sum(len(v.draft) for v in plan.verifies)
        self.accepted_draft_tokens_total += sum(len(sampled[v.seq]) - 1 for v in plan.verifies)

    def _deliver(self, outputs: list[SequenceOutput]) -> None:
        """A new token goes out on its own, then a finish as an empty final output: the same
        framing for every way a request ends. A callback that returns False cancels its request."""
        for out in outputs:
            active = self._active[out.seq.request_id]
            if out.new_token_ids and not self._emit(active, out.new_token_ids, False) and not out.finished:
                active.seq.cancel_requested = True
            if out.finished:
                self._emit(active, [], True)

    def _finish(self, active: _Active, reason: FinishReason) -> None:
        self.scheduler.finish(active.seq, reason)
        self._emit(active, [], True)

    def _emit(self, active: _Active, tokens: list[int], finished: bool) -> bool:
        seq = active.seq
        if finished:
            with self._lock:
                self._active.pop(seq.request_id, None)
        log_probs = tuple(seq.log_probs[len(seq.log_probs) - len(tokens) :]) if seq.log_probs else ()
        logits = tuple(seq.generation_logits)  # handed over: a long stream must not keep every row
        seq.generation_logits.clear()
        context = np.stack(seq.context_logits) if seq.context_logits else None
        seq.context_logits.clear()
        out = TokenOutput(
            seq.request_id,
            tokens,
            finished,
            seq.finish_reason,
            seq.num_prompt,
            seq.num_cached,
            log_probs,
            float(sum(seq.log_probs)),
            logits,
            context,
            seq.scheduled_ns,
            seq.draft_tokens,
            seq.accepted_draft_tokens,
        )
        try:
            return active.callback(out) is not False
        except Exception:
            log.exception("output callback of request %s failed; cancelling it", seq.request_id)
            return False
