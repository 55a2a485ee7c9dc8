"""One sequence's state inside the OpenVINO engine, the outputs it hands its callback, and the engine's
counters (the names engine/stats.py gives them, which triton_io/metrics.py reads)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..engine.outputs import OutputCallback, TokenOutput
from ..engine.sequence import FinishReason, SamplingParams

log = logging.getLogger("triton_llm.engine")


@dataclass(eq=False, kw_only=True)
class Running:
    """A sequence sent to the engine process, until its final output."""

    request_id: str
    num_prompt: int
    params: SamplingParams
    callback: OutputCallback
    cum_log_prob: float = 0.0
    scheduled_ns: int = 0  # time.monotonic_ns() at the start of the first step that could run it (0: not yet)
    done: bool = False
    finish_reason: FinishReason | None = None

    def emit(self, out: TokenOutput) -> bool:
        """Call the callback; False: it asks for the sequence to be cancelled (or raised)."""
        try:
            return self.callback(out) is not False
        except Exception:
            log.exception("output callback of request %s failed; cancelling it", self.request_id)
            return False


def token_output(
    running: Running,
    tokens: list[int],
    log_probs: tuple[float, ...],
    finished: bool = False,
    *,
    step_batch: int = 0,
) -> TokenOutput:
    """An output of new tokens from a step in which step_batch sequences got tokens, or (finished) the
    empty final one. The pipeline reports no prefix-cache hits per sequence, so num_cached_tokens is 0."""
    return TokenOutput(
        request_id=running.request_id,
        new_token_ids=tokens,
        finished=finished,
        finish_reason=running.finish_reason if finished else None,
        num_prompt_tokens=running.num_prompt,
        num_cached_tokens=0,
        log_probs=log_probs,
        cum_log_prob=running.cum_log_prob,
        scheduled_ns=running.scheduled_ns,
        step_batch=step_batch,
    )


@dataclass
class EngineTotals:
    """Counters since start, written by the thread reading the engine process (rejected: by
    submitters, under the lock)."""

    prompt_tokens: int = 0
    generated: int = 0
    cancelled: int = 0
    rejected: int = 0
    steps: int = 0

    def count_finish(self, running: Running) -> None:
        self.prompt_tokens += running.num_prompt if running.scheduled_ns else 0
        if running.finish_reason is FinishReason.CANCELLED:
            self.cancelled += 1

    def snapshot(self, *, waiting: int, running: int, max_num_seqs: int, cache_usage: float) -> dict:
        return {
            "waiting": waiting,
            "running": running,
            "active_requests": waiting + running,
            "slots_used": running,
            "slots_total": max_num_seqs,
            "kv_cache_utilization": cache_usage,
            "prefix_cache_queried_tokens": 0,
            "prefix_cache_hit_tokens": 0,
            "prefix_cache_hit_rate": 0.0,
            "prompt_tokens_total": self.prompt_tokens,
            "generation_tokens_total": self.generated,
            "cancelled_total": self.cancelled,
            "rejected_total": self.rejected,
            "draft_tokens_total": 0,
            "accepted_draft_tokens_total": 0,
            "steps": self.steps,
        }
