"""Preallocated KV memory in fixed slots, with prefix reuse.

Layout (per layer, keys and values alike): `[num_slots, kv_heads, max_seq_len + 1, head_dim]`.
A sequence owns one slot for its whole life, so its cache never moves and never grows: the model
writes each new position in place (GroupQueryAttention with a shared past/present buffer, bound
through ONNX Runtime I/O binding). Position `max_seq_len` of every slot is scratch: rows of a
decode batch that have nothing to decode write there, so they never touch real entries.

Prefix reuse: a slot remembers which tokens its entries hold, also after its sequence finished.
A new prompt that starts with tokens held by some slot reuses them: in place when that slot is free
(zero copy), otherwise by copying just that prefix into the new slot (a one-off copy of a few
megabytes instead of recomputing it). Entries computed with a LoRA adapter hold other values than
the base model's for the same tokens: each slot carries the tag of what computed it (None: the
base model), and a prefix is reused only under the same tag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Allocation:
    slot: int
    reused_tokens: int  # leading prompt tokens whose KV is already valid in `slot` after the copy
    copy_from: int | None  # slot to copy those entries from, or None when they are already in place


def common_prefix_len(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class SlotAllocator:
    """Which slot is free, and which tokens each slot's entries hold. Pure bookkeeping."""

    def __init__(self, num_slots: int, min_prefix_reuse: int = 8, prefix_caching: bool = True):
        self.num_slots = num_slots
        self.min_prefix_reuse = min_prefix_reuse
        self.prefix_caching = prefix_caching
        self._free = list(range(num_slots))  # kept sorted: lowest first keeps decode batches compact
        # Slot s holds the KV of _held[s][:_held_len[s]]; the list may be a running sequence's own
        # token list (shared, not copied, since it grows every step).
        self._held: list[list[int]] = [[] for _ in range(num_slots)]
        self._held_len = [0] * num_slots
        self._tag: list[str | None] = [None] * num_slots
        self.queried_tokens = 0
        self.hit_tokens = 0

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def num_used(self) -> int:
        return self.num_slots - len(self._free)

    def allocate(self, prompt: list[int], reuse: bool = True, tag: str | None = None) -> Allocation | None:
        """Take a slot for `prompt`; None when every slot is in use (the caller keeps it waiting).
        reuse=False: no prefix reuse (every prompt position is computed). tag: what computes the
        slot's entries (a LoRA adapter's version); only entries of the same tag are reused."""
        if not self._free:
            return None
        # At least one prompt token is always computed: its logits give the first output token.
        limit = len(prompt) - 1
        best_slot, best_len = None, 0
        if reuse and self.prefix_caching and limit >= self.min_prefix_reuse:
            for slot in range(self.num_slots):
                if self._tag[slot] != tag:
                    continue
                n = min(common_prefix_len(self._held[slot][: self._held_len[slot]], prompt), limit)
                # Prefer a free slot on ties: reuse in place costs no copy.
                if n > best_len or (
                    n == best_len and n > 0 and slot in self._free and best_slot not in self._free
                ):
                    best_slot, best_len = slot, n
        self.queried_tokens += len(prompt)
        if best_slot is None or best_len < self.min_prefix_reuse:
            slot = self._free.pop(0)
            self.record(slot, [], 0)
            self._tag[slot] = tag
            return Allocation(slot, 0, None)
        self.hit_tokens += best_len
        if best_slot in self._free:
            self._free.remove(best_slot)
            self.record(best_slot, list(prompt[:best_len]), best_len)
            return Allocation(best_slot, best_len, None)
        slot = self._free.pop(0)
        self.record(slot, list(prompt[:best_len]), best_len)
        self._tag[slot] = tag
        return Allocation(slot, best_len, best_slot)

    def record(self, slot: int, tokens: list[int], length: int) -> None:
        """The slot's entries now hold `tokens[:length]` (called as positions are computed)."""
        self._held[slot] = tokens
        self._held_len[slot] = length

    def held_length(self, slot: int) -> int:
        """Positions of `slot` holding valid entries; writing at or after it harms nothing."""
        return self._held_len[slot]

    def free(self, slot: int, keep: bool = True) -> None:
        """Return a slot; with keep, its entries stay reusable until the slot is taken again."""
        if slot in self._free:
            raise ValueError(f"slot {slot} is already free")
        if keep:
            # Freeze what the slot holds: the owner's list would otherwise keep changing.
            self._held[slot] = self._held[slot][: self._held_len[slot]]
        else:
            self.record(slot, [], 0)
        self._free.append(slot)
        self._free.sort()

    @property
    def hit_rate(self) -> float:
        return self.hit_tokens / self.queried_tokens if self.queried_tokens else 0.0


class KVBuffers:
    """The memory itself: one key and one value array per layer, allocated once."""

    def __init__(
        self,
        num_layers: int,
        num_slots: int,
        kv_heads: int,
        max_seq_len: int,
        head_dim: int,
        dtype=np.float32,
    ):
        shape = (num_slots, kv_heads, max_seq_len + 1, head_dim)  # +1: the scratch position
        self.keys = [np.zeros(shape, dtype=dtype) for _ in range(num_layers)]
        self.values = [np.zeros(shape, dtype=dtype) for _ in range(num_layers)]
        self.shape = shape
        self.scratch_position = max_seq_len

    def copy_prefix(self, src: int, dst: int, length: int) -> None:
        for arrays in (self.keys, self.values):
            for layer in arrays:
                layer[dst, :, :length] = layer[src, :, :length]
