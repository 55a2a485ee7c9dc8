"""Decides what each engine step computes.

Scheduling rule, once per step:
1. Cancelled sequences leave first and free their slots.
2. Waiting sequences are admitted in arrival order while a KV slot is free; admission may reuse a
   cached prompt prefix (see kv_cache.SlotAllocator).
3. Every sequence in DECODE computes one token.
4. The rest of the token budget (max_num_batched_tokens − decodes) goes to prefill chunks of
   PREFILL sequences in admission order, so a long prompt advances a chunk per step while the
   running streams keep decoding (chunked prefill) instead of stalling behind it.
A slot holds a sequence's whole context, so a running sequence never runs out of cache: nothing is
ever preempted; when the slots are full, new requests wait.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .config import EngineConfig
from .kv_cache import SlotAllocator
from .sequence import FinishReason, Sequence, Status


@dataclass
class PrefillChunk:
    seq: Sequence
    start: int  # first position computed
    tokens: list[int]  # prompt tokens at positions start .. start+len-1

    @property
    def completes_prompt(self) -> bool:
        return self.start + len(self.tokens) == self.seq.num_prompt


@dataclass
class StepPlan:
    """What the runner computes this step.

    copies      (src_slot, dst_slot, length): prefix KV to copy before anything runs
    prefills    chunks to compute, one runner call each
    decodes     sequences decoding one token each, batched in one runner call over slots
                [0, max slot + 1)
    finished    sequences that left this step without running (cancelled); their slots are free
    """

    copies: list[tuple[int, int, int]] = field(default_factory=list)
    prefills: list[PrefillChunk] = field(default_factory=list)
    decodes: list[Sequence] = field(default_factory=list)
    finished: list[Sequence] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.prefills or self.decodes or self.finished)

    @property
    def num_tokens(self) -> int:
        return len(self.decodes) + sum(len(c.tokens) for c in self.prefills)


class Scheduler:
    def __init__(self, config: EngineConfig):
        self.config = config
        self.slots = SlotAllocator(config.max_num_seqs, config.min_prefix_reuse, config.prefix_caching)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # admission order

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    def add(self, seq: Sequence) -> None:
        """Queue a sequence; raises QueueFullError past max_queue_size (the caller rejects the request)."""
        if len(self.waiting) >= self.config.max_queue_size:
            raise QueueFullError(
                f"engine queue is full ({self.config.max_queue_size} waiting requests); retry later"
            )
        seq.status = Status.WAITING
        self.waiting.append(seq)

    def schedule(self) -> StepPlan:
        plan = StepPlan()
        self._drop_cancelled(plan)
        while self.waiting and self.slots.num_free:
            seq = self.waiting.popleft()
            allocation = self.slots.allocate(seq.prompt_ids)
            seq.slot = allocation.slot
            seq.num_computed = seq.num_cached = allocation.reused_tokens
            seq.status = Status.PREFILL
            if allocation.copy_from is not None:
                plan.copies.append((allocation.copy_from, allocation.slot, allocation.reused_tokens))
            self.running.append(seq)
        plan.decodes = [s for s in self.running if s.status is Status.DECODE]
        budget = self.config.max_num_batched_tokens - len(plan.decodes)
        for seq in self.running:
            if budget <= 0:
                break
            if seq.status is not Status.PREFILL:
                continue
            n = min(seq.prompt_remaining, budget)
            plan.prefills.append(PrefillChunk(seq, seq.num_computed, seq.prompt_ids[seq.num_computed:seq.num_computed + n]))
            budget -= n
        return plan

    def _drop_cancelled(self, plan: StepPlan) -> None:
        for seq in [s for s in self.waiting if s.cancel_requested]:
            self.waiting.remove(seq)
            seq.status, seq.finish_reason = Status.FINISHED, FinishReason.CANCELLED
            plan.finished.append(seq)
        for seq in [s for s in self.running if s.cancel_requested]:
            self.finish(seq, FinishReason.CANCELLED)
            plan.finished.append(seq)

    def on_prefilled(self, chunk: PrefillChunk) -> None:
        seq = chunk.seq
        seq.num_computed += len(chunk.tokens)
        self.slots.record(seq.slot, seq.tokens, seq.num_computed)
        if seq.num_computed == seq.num_prompt:
            seq.status = Status.DECODE

    def on_decoded(self, seq: Sequence) -> None:
        """The KV of the token fed this step is now written."""
        seq.num_computed += 1
        self.slots.record(seq.slot, seq.tokens, seq.num_computed)

    def finish(self, seq: Sequence, reason: FinishReason) -> None:
        seq.status, seq.finish_reason = Status.FINISHED, reason
        if seq in self.running:
            self.running.remove(seq)
        if seq.slot is not None:
            self.slots.free(seq.slot, keep=reason is not FinishReason.ERROR)
            seq.slot = None


class QueueFullError(RuntimeError):
    """The admission queue is at max_queue_size: reject now rather than let latency grow unbounded."""
