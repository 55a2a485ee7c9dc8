"""The adapters an engine knows by name, and the few resident in the LoRA export's weight slots.

Known adapters are read and checked once, at registration (lora_weights.read_adapter), and kept
in host memory. Resident ones occupy a slot 1..max_loras of the stacks the runner binds, one per
module: `a` [layers, in, slots, rank] and `b` [layers, slots, rank, out], so that each layer's
[in, slots·rank] and [slots·rank, out] matrices are contiguous (lora_weights' layout); slot 0
stays zeros (rows without an adapter). A sequence takes its adapter's slot when it is admitted
(the scheduler calls `acquire`) and gives it back when it finishes (`release`). When no slot is
free the least recently used adapter that no running sequence uses is evicted (its host copy
stays); when every slot is in use the sequence waits.

All calls happen under the engine's lock (registration from callers' threads, acquire/release from
the engine loop), so the stacks never change while the runner reads them.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np

from .lora_weights import Adapter, AdapterError, LoraSpec, a_input, b_input, read_adapter
from .sequence import Sequence


class AdapterInUseError(RuntimeError):
    """Unloading or replacing an adapter that queued or running requests use (vLLM answers 409)."""


class AdapterTable:
    def __init__(self, spec: LoraSpec, max_loras: int, max_lora_rank: int):
        self.spec = spec
        self.max_loras = max_loras
        self.max_lora_rank = max_lora_rank
        slots = max_loras + 1  # slot 0: no adapter
        self.columns = slots * max_lora_rank  # C of the export's inputs
        self.a = {
            m: np.zeros((spec.num_layers, dims[0], slots, max_lora_rank), np.float32)
            for m, dims in spec.modules.items()
        }
        self.b = {
            m: np.zeros((spec.num_layers, slots, max_lora_rank, dims[1]), np.float32)
            for m, dims in spec.modules.items()
        }
        self._known: dict[str, Adapter] = {}
        self._resident: OrderedDict[str, int] = OrderedDict()  # name → slot, least recent first
        self._running: Counter[str] = Counter()  # name → running sequences using its slot
        self._free = list(range(1, slots))
        # name → the version KV entries computed with it are tagged with (kv_cache.SlotAllocator):
        # an adapter registered again under the same name never reuses its predecessor's entries
        self._tags: dict[str, str] = {}
        self._serial = 0
        self.loads = 0  # adapters copied into a slot (first use or after an eviction)
        self.evictions = 0

    # -- names ---------------------------------------------------------------------------------
    def read(self, name: str, path: str | Path) -> Adapter:
        """Read and check the PEFT directory `path` for `name` (AdapterError says what does not
        fit); changes nothing, so it may run outside the engine's lock."""
        if not name:
            raise AdapterError("an adapter needs a non-empty name")
        if self.max_loras == 0:
            raise AdapterError(f"adapter {name!r}: this engine holds no adapters (max_loras is 0)")
        return read_adapter(name, path, self.spec, self.max_lora_rank)

    def register(self, name: str, path: str | Path) -> Adapter:
        return self.install(self.read(name, path))

    def install(self, adapter: Adapter) -> Adapter:
        """Make `adapter` known by its name, replacing an adapter of that name; the caller makes
        sure no request uses it (LLMEngine.load_adapter)."""
        name = adapter.name
        self.unregister(name)
        self._known[name] = adapter
        self._serial += 1
        self._tags[name] = f"{name}#{self._serial}"
        return adapter

    def unregister(self, name: str) -> bool:
        """Forget `name` (False if unknown); its slot is freed. Must not be running."""
        if self._running[name]:
            raise AdapterInUseError(f"adapter {name!r} is in use by {self._running[name]} running sequences")
        slot = self._resident.pop(name, None)
        if slot is not None:
            self._clear(slot)
            self._free.append(slot)
        self._tags.pop(name, None)
        return self._known.pop(name, None) is not None

    def tag(self, name: str) -> str:
        return self._tags[name]

    def __contains__(self, name: str) -> bool:
        return name in self._known

    @property
    def names(self) -> list[str]:
        return sorted(self._known)

    @property
    def resident(self) -> list[str]:
        """Adapters in a slot, least recently used first."""
        return list(self._resident)

    @property
    def running(self) -> dict[str, int]:
        return {name: count for name, count in self._running.items() if count}

    # -- slots ---------------------------------------------------------------------------------
    def acquire(self, name: str) -> int | None:
        """The slot holding `name` for one more running sequence (loaded now if it is not
        resident), or None when every slot is taken by adapters that are running."""
        if name not in self._known:
            raise AdapterError(f"adapter {name!r} is not loaded")
        slot = self._resident.get(name)
        if slot is None:
            slot = self._take_slot()
            if slot is None:
                return None
            self._load(self._known[name], slot)
            self._resident[name] = slot
        self._resident.move_to_end(name)
        self._running[name] += 1
        return slot

    def release(self, name: str) -> None:
        if self._running[name] <= 0:
            raise ValueError(f"adapter {name!r} released more often than acquired")
        self._running[name] -= 1

    def mask(self, adapter_slots: list[int]) -> np.ndarray:
        """The export's lora_mask for rows with these adapter slots: [rows, 1, columns]."""
        mask = np.zeros((len(adapter_slots), 1, self.columns), np.float32)
        rank = self.max_lora_rank
        for row, slot in enumerate(adapter_slots):
            if slot:
                mask[row, 0, slot * rank : (slot + 1) * rank] = 1.0
        return mask

    def bindings(self) -> list[tuple[str, list[int], np.ndarray]]:
        """(input name, shape, array) of every layer's A and B, views into the stacks: the runner
        binds them by address (they never move: loading writes into them)."""
        out = []
        for module in self.spec.modules:
            for layer in range(self.spec.num_layers):
                a = self.a[module][layer]
                b = self.b[module][layer]
                out.append((a_input(layer, module), [a.shape[0], self.columns], a))
                out.append((b_input(layer, module), [self.columns, b.shape[-1]], b))
        return out

    def _take_slot(self) -> int | None:
        if self._free:
            return self._free.pop(0)
        victim = next((n for n in self._resident if not self._running[n]), None)
        if victim is None:
            return None
        self.evictions += 1
        return self._resident.pop(victim)

    def _load(self, adapter: Adapter, slot: int) -> None:
        self._clear(slot)
        for module in self.spec.modules:
            self.a[module][:, :, slot, : adapter.rank] = adapter.a[module]
            self.b[module][:, slot, : adapter.rank, :] = adapter.b[module]
        self.loads += 1

    def _clear(self, slot: int) -> None:
        for module in self.spec.modules:
            self.a[module][:, :, slot] = 0.0
            self.b[module][:, slot] = 0.0


# What the scheduler does with a sequence's adapter (table None: an export without LoRA, whose
# requests never name one: Admission refuses them).
def take_adapter_slot(table: AdapterTable | None, seq: Sequence) -> bool:
    """Give `seq` its adapter's weight slot (loaded now if not resident); False when none is free.
    Admission made sure the adapter is known, and LLMEngine refuses to unload one in use."""
    if seq.params.lora_name is None:
        return True
    slot = table.acquire(seq.params.lora_name)
    if slot is None:
        return False
    seq.adapter_slot = slot
    return True


def release_adapter_slot(table: AdapterTable | None, seq: Sequence) -> None:
    if seq.adapter_slot:
        table.release(seq.params.lora_name)
        seq.adapter_slot = 0


def kv_tag(table: AdapterTable | None, seq: Sequence) -> str | None:
    """What computes the sequence's KV entries: None for the base model, else its adapter's version."""
    name = seq.params.lora_name
    return None if name is None else table.tag(name)
