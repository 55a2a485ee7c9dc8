"""Decides what each engine step computes.

Scheduling rule, once per step:
1. Cancelled sequences leave first and free their slots.
2. Waiting sequences are admitted in arrival order while a KV slot is free; one with a LoRA
   adapter also needs its adapter in a weight slot (engine/lora.py), else it keeps its place while
   those behind it go ahead. Admission may reuse a cached prompt prefix computed by the same
   adapter (see kv_cache.SlotAllocator).
3. Every sequence in DECODE computes one token. While at most `speculative_max_batch` sequences
   decode, one whose request speculates and whose drafter finds a guess verifies that draft
   instead (one call of 1 + draft positions; engine/drafter.py).
4. The rest of the token budget (max_num_batched_tokens − decodes) goes to prefill chunks of
   PREFILL sequences in admission order, so a long prompt advances a chunk per step while the
   running streams keep decoding (chunked prefill) instead of stalling behind it.
A slot holds a sequence's whole context, so a running sequence never runs out of cache: nothing is
ever preempted; when the slots are full, new requests wait.

After the runner computed the plan, `update(plan, result)` records what was computed and applies
the finish rules, in this order: an end id stops the sequence (it is a control token, not output);
otherwise the token is appended, then a stop sequence, max_tokens or the context limit finishes it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .config import EngineConfig
from .drafter import propose
from .kv_cache import SlotAllocator
from .lora import AdapterTable, kv_tag, release_adapter_slot, take_adapter_slot
from .sequence import FinishReason, Sequence, Status
from .step import SequenceOutput, StepResult


@dataclass
class PrefillChunk:
    seq: Sequence
    start: int  # first position computed
    tokens: list[int]  # prompt tokens at positions start .. start+len-1

    @property
    def completes_prompt(self) -> bool:
        return self.start + len(self.tokens) == self.seq.num_prompt


@dataclass
class Verify:
    seq: Sequence
    draft: list[int]  # guessed tokens after seq.tokens[-1]; that token and these are computed


@dataclass
class StepPlan:
    """What the runner computes this step.

    copies          (src_slot, dst_slot, length): prefix KV to copy before anything runs
    prefills        chunks to compute, one runner call each
    decodes         sequences decoding one token each, batched in one runner call over slots
                    [0, max decoding slot + 1)
    idle_positions  the other slots of that batch → the first position they may overwrite: past
                    every entry they hold once this step's prefills and verifies are written
    verifies        sequences checking a draft, one runner call each
    finished        sequences that left this step without running (cancelled); their slots are free
    """

    copies: list[tuple[int, int, int]] = field(default_factory=list)
    prefills: list[PrefillChunk] = field(default_factory=list)
    decodes: list[Sequence] = field(default_factory=list)
    idle_positions: dict[int, int] = field(default_factory=dict)
    finished: list[Sequence] = field(default_factory=list)
    verifies: list[Verify] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return (
            len(self.decodes)
            + sum(len(c.tokens) for c in self.prefills)
            + sum(1 + len(v.draft) for v in self.verifies)
        )


class Scheduler:
    def __init__(self, config: EngineConfig, adapters: AdapterTable | None = None):
        self.config = config
        self.adapters = adapters  # None: the export takes no LoRA adapters
        self.slots = SlotAllocator(config.max_num_seqs, config.min_prefix_reuse, config.prefix_caching)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # admission order
        # return_context_logits: the rows of each prompt position computed so far (one per step:
        # such prompts prefill one position per chunk), handed over when the prompt completes.
        self._context_logits: dict[Sequence, list[np.ndarray]] = {}

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    def add(self, *seqs: Sequence) -> None:
        """Queue one request's sequences (several: num_return_sequences), all or none; raises
        QueueFullError past max_queue_size (the caller rejects the request)."""
        if len(self.waiting) + len(seqs) > self.config.max_queue_size:
            raise QueueFullError(
                f"engine queue is full ({self.config.max_queue_size} waiting requests); retry later"
            )
        for seq in seqs:
            seq.status = Status.WAITING
            self.waiting.append(seq)

    def schedule(self) -> StepPlan:
        plan = StepPlan()
        self._drop_cancelled(plan)
        self._admit(plan)
        plan.decodes = [s for s in self.running if s.status is Status.DECODE]
        if len(plan.decodes) <= self.config.speculative_max_batch:
            plan.verifies = [v for v in map(self._draft, plan.decodes) if v is not None]
            verifying = {v.seq for v in plan.verifies}
            plan.decodes = [s for s in plan.decodes if s not in verifying]
        budget = self.config.max_num_batched_tokens - plan.num_tokens  # no prefill chunk planned yet
        for seq in self.running:
            if budget <= 0:
                break
            if seq.status is not Status.PREFILL:
                continue
            # return_context_logits: one position per chunk, the only one whose logits a prefill returns.
            n = 1 if seq.params.return_context_logits else min(seq.prompt_remaining, budget)
            plan.prefills.append(
                PrefillChunk(seq, seq.num_computed, seq.prompt_ids[seq.num_computed : seq.num_computed + n])
            )
            budget -= n
        if plan.decodes:
            plan.idle_positions = self._idle_positions(plan)
        return plan

    def _admit(self, plan: StepPlan) -> None:
        """Rule 2. A sequence whose adapter gets no weight slot (every slot's adapter is running)
        stays queued in its place while those behind it go ahead, as vLLM's scheduler skips them."""
        blocked = []
        while self.waiting and self.slots.num_free:
            leader = self.waiting[0].leader
            if leader is not None and leader.status in (Status.WAITING, Status.PREFILL):
                # A sibling waits (and the queue behind it, keeping FIFO order) until its leader's
                # prompt is computed, then copies that KV (prefix reuse) instead of computing it again.
                break
            seq = self.waiting.popleft()
            if not take_adapter_slot(self.adapters, seq):
                blocked.append(seq)
                continue
            allocation = self.slots.allocate(
                seq.prompt_ids,
                reuse=not seq.params.return_context_logits,
                tag=kv_tag(self.adapters, seq),
            )
            seq.slot = allocation.slot
            seq.num_computed = seq.num_cached = allocation.reused_tokens
            seq.status = Status.PREFILL
            seq.scheduled_ns = seq.scheduled_ns or time.monotonic_ns()
            if allocation.copy_from is not None:
                plan.copies.append((allocation.copy_from, allocation.slot, allocation.reused_tokens))
            self.running.append(seq)
        self.waiting.extendleft(reversed(blocked))

    def _draft(self, seq: Sequence) -> Verify | None:
        """The draft `seq` verifies this step, or None (it decodes). Capped so that every drafted
        token could be kept: room for one more token after them, within max_tokens and the slot."""
        wanted = seq.params.speculative_draft_len
        length = self.config.speculative_draft_len if wanted is None else wanted
        room = min(seq.params.max_tokens - seq.num_generated, self.config.max_seq_len - len(seq.tokens)) - 1
        draft = propose(seq.tokens, self.config.speculative_ngram, min(length, room))
        return Verify(seq, draft) if draft else None

    def _idle_positions(self, plan: StepPlan) -> dict[int, int]:
        # One decode call covers contiguous slots; a slot in that range with nothing to decode
        # writes one throwaway entry at the first position it does not hold (attention cost grows
        # with the position, so the lowest harmless one).
        held = {s: self.slots.held_length(s) for s in range(max(q.slot for q in plan.decodes) + 1)}
        for chunk in plan.prefills:
            if chunk.seq.slot in held:  # a prefilling slot above the batch is not in it
                held[chunk.seq.slot] = chunk.start + len(chunk.tokens)
        for item in plan.verifies:  # a verify writes its draft past the slot's length
            if item.seq.slot in held:
                held[item.seq.slot] = item.seq.num_computed + 1 + len(item.draft)
        for seq in plan.decodes:
            del held[seq.slot]
        return held

    def _drop_cancelled(self, plan: StepPlan) -> None:
        for seq in [s for s in self.waiting if s.cancel_requested]:
            self.waiting.remove(seq)
            seq.status, seq.finish_reason = Status.FINISHED, FinishReason.CANCELLED
            plan.finished.append(seq)
        for seq in [s for s in self.running if s.cancel_requested]:
            self.finish(seq, FinishReason.CANCELLED)
            plan.finished.append(seq)

    def update(self, plan: StepPlan, result: StepResult) -> list[SequenceOutput]:
        """Record what the runner computed for `plan` and apply the finish rules to each drawn
        token (a prefill that completes its prompt draws the first one; a verify draws the
        accepted draft tokens and one more). Returns the step's outputs: first the cancelled
        sequences, then one per sequence that drew tokens, in plan order, each with the extras of
        the tokens it kept."""
        outputs = [
            SequenceOutput(
                seq=seq, new_token_ids=[], finished=True, context_logits=self._take_context_logits(seq)
            )
            for seq in plan.finished
        ]
        for chunk in plan.prefills:
            seq = chunk.seq
            seq.num_computed += len(chunk.tokens)
            self.slots.record(seq.slot, seq.tokens, seq.num_computed)
            if seq.num_computed == seq.num_prompt:
                seq.status = Status.DECODE
            if seq in result.context_logits:
                self._context_logits.setdefault(seq, []).append(result.context_logits[seq])
        for seq in plan.decodes:  # the KV of the token fed this step is now written
            seq.num_computed += 1
            self.slots.record(seq.slot, seq.tokens, seq.num_computed)
        for item in plan.verifies:  # valid KV: the token fed and the accepted draft tokens
            seq, drawn = item.seq, len(result.tokens[item.seq])
            seq.num_computed += drawn
            self.slots.record(seq.slot, seq.tokens, seq.num_computed)
            seq.draft_tokens += len(item.draft)
            seq.accepted_draft_tokens += drawn - 1
        for seq, tokens in result.tokens.items():
            outputs.append(self._output(seq, tokens, result))
        return outputs

    def _output(self, seq: Sequence, tokens: list[int], result: StepResult) -> SequenceOutput:
        kept = self._keep(seq, tokens)
        new = tokens if kept == len(tokens) else tokens[:kept]
        params = seq.params
        log_probs: tuple[float, ...] = ()
        if params.return_log_probs:
            log_probs = tuple(result.log_probs[seq][:kept])
            for value in log_probs:  # one at a time: the same float sum as adding them all in order
                seq.cum_log_prob += value
        return SequenceOutput(
            seq=seq,
            new_token_ids=new,
            finished=seq.status is Status.FINISHED,
            log_probs=log_probs,
            logits=tuple(result.logits[seq][:kept]) if params.return_generation_logits else (),
            context_logits=self._take_context_logits(seq) if params.return_context_logits else None,
        )

    def _keep(self, seq: Sequence, tokens: list[int]) -> int:
        """Append `tokens` to the sequence while it runs, applying the finish rules to each; returns
        how many were kept (an end id finishes the sequence without being kept)."""
        params = seq.params
        for index, token in enumerate(tokens):
            if token in params.end_ids:
                # End ids are control tokens: they finish the sequence and are not part of the output.
                self.finish(seq, FinishReason.STOP)
                return index
            seq.tokens.append(token)
            reason = None
            if any(
                seq.tokens[-len(s) :] == list(s) for s in params.stop_sequences if len(s) <= seq.num_generated
            ):
                reason = FinishReason.STOP
            elif seq.num_generated >= params.max_tokens:
                reason = FinishReason.LENGTH
            elif len(seq.tokens) >= self.config.max_seq_len:
                reason = FinishReason.CONTEXT
            if reason is not None:
                self.finish(seq, reason)
                return index + 1
        return len(tokens)

    def _take_context_logits(self, seq: Sequence):
        """The context logits gathered so far for `seq` as one [positions, vocab] array (None when
        it asked for none), handed over once."""
        rows = self._context_logits.pop(seq, None)
        return np.stack(rows) if rows else None

    def finish(self, seq: Sequence, reason: FinishReason) -> None:
        seq.status, seq.finish_reason = Status.FINISHED, reason
        if seq in self.running:
            self.running.remove(seq)
        if seq.slot is not None:
            self.slots.free(seq.slot, keep=reason is not FinishReason.ERROR)
            seq.slot = None
        release_adapter_slot(self.adapters, seq)


class QueueFullError(RuntimeError):
    """The admission queue is at max_queue_size: reject now rather than let latency grow unbounded."""
