"""The engine's counters and the stats snapshot metrics exporters read (LLMEngine.stats())."""

from __future__ import annotations

from dataclasses import dataclass

from .scheduler import Scheduler, StepPlan
from .step import SequenceOutput, StepResult


@dataclass
class EngineCounters:
    """Totals since start. Written by the engine thread only, read from other threads: ints, whose
    reads and writes the GIL keeps whole."""

    steps: int = 0
    prompt_tokens_total: int = 0
    generation_tokens_total: int = 0
    cancelled_total: int = 0
    rejected_total: int = 0  # written by submitting threads, under the engine lock
    draft_tokens_total: int = 0  # speculative decoding: draft tokens verified ...
    accepted_draft_tokens_total: int = 0  # ... and kept

    def count_step(self, plan: StepPlan, result: StepResult, outputs: list[SequenceOutput]) -> None:
        self.cancelled_total += len(plan.finished)
        self.prompt_tokens_total += sum(len(c.tokens) for c in plan.prefills)
        self.generation_tokens_total += sum(len(o.new_token_ids) for o in outputs)
        self.draft_tokens_total += sum(len(v.draft) for v in plan.verifies)
        self.accepted_draft_tokens_total += sum(len(result.tokens[v.seq]) - 1 for v in plan.verifies)


def snapshot(scheduler: Scheduler, active_requests: int, counters: EngineCounters) -> dict[str, float]:
    """Gauges of the queue, slots and prefix cache, then the counters (the metrics' names)."""
    slots = scheduler.slots
    return {
        "waiting": scheduler.num_waiting,
        "running": len(scheduler.running),
        "active_requests": active_requests,
        "slots_used": slots.num_used,
        "slots_total": slots.num_slots,
        "kv_cache_utilization": slots.num_used / slots.num_slots,
        "prefix_cache_queried_tokens": slots.queried_tokens,
        "prefix_cache_hit_tokens": slots.hit_tokens,
        "prefix_cache_hit_rate": slots.hit_rate,
        "prompt_tokens_total": counters.prompt_tokens_total,
        "generation_tokens_total": counters.generation_tokens_total,
        "cancelled_total": counters.cancelled_total,
        "rejected_total": counters.rejected_total,
        "draft_tokens_total": counters.draft_tokens_total,
        "accepted_draft_tokens_total": counters.accepted_draft_tokens_total,
        "steps": counters.steps,
    }
