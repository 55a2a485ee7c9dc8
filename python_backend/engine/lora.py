"""The adapters an engine knows by name, and the few resident in the LoRA export's weight slots.

Known adapters are read and checked once, at registration (lora_weights.read_adapter), and kept
in host memory. Resident ones occupy a slot 1..max_loras and are packed side by side, each with
its own rank, into one stack per branch of the export that the runner binds: `a` [layers, in,
n·columns] and `b` [layers, n·columns, Σ out] for a branch of n modules, so that each layer's
matrices are contiguous (lora_weights' layout); slot s owns columns offset(s) … + rank(s) of each
module's block. A row without an adapter owns none: its mask is all zeros. So a call computes
the resident adapters' ranks summed, not max_loras × max_lora_rank columns: what the masked
layout costs grows with the ranks actually served. A call in which no row has an adapter is
bound to one zero column per module instead (`zero_bindings`). A sequence takes its adapter's
slot when it is admitted (the scheduler calls `acquire`) and gives it back when it finishes
(`release`). When no slot is free the least recently used adapter that no running sequence uses
is evicted (its host copy stays); when every slot is in use the sequence waits.

The stacks are packed again only in `acquire`, which the scheduler calls on the engine thread
between steps, so they never move while the runner reads them; `version` says when they did (the
runner binds them again). Registration runs on callers' threads under the engine's lock and never
repacks: an unregistered adapter's columns stay until the next packing, masked off (no running
row has its slot).
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
        self.a: dict[str, np.ndarray] = {}  # branch → [layers, in, n·columns]
        self.b: dict[str, np.ndarray] = {}  # branch → [layers, n·columns, Σ out], block diagonal
        self.columns = 1  # C of the export's inputs: the resident ranks summed (at least 1)
        self._offsets: dict[int, tuple[int, int]] = {}  # slot → (first column, rank)
        self.version = 0  # bumped by every packing: the stacks are new arrays
        self._bindings: list[tuple[str, list[int], np.ndarray]] = []
        self._known: dict[str, Adapter] = {}
        self._resident: OrderedDict[str, int] = OrderedDict()  # name → slot, least recent first
        self._running: Counter[str] = Counter()  # name → running sequences using its slot
        self._free = list(range(1, max_loras + 1))
        # name → the version KV entries computed with it are tagged with (kv_cache.SlotAllocator):
        # an adapter registered again under the same name never reuses its predecessor's entries
        self._tags: dict[str, str] = {}
        self._serial = 0
        self.loads = 0  # adapters copied into a slot (first use or after an eviction)
        self.evictions = 0
        self._pack()
        self._zero_bindings = _zero_bindings(spec)

    # -- names ---------------------------------------------------------------------------------
    def read(self, name: str, path: str | Path) -> Adapter:
        """Read and check the PEFT directory `path` for `name` (AdapterError says what does not
        fit); changes nothing, so it may run outside the engine's lock."""
        self._check_name(name)
        return read_adapter(name, path, self.spec, self.max_lora_rank)

    def check(self, adapter: Adapter) -> Adapter:
        """Check an adapter made in memory (trtllm_lora.from_trtllm converts TensorRT-LLM's
        lora_weights into one) as `read` checks a directory: AdapterError says what does not fit."""
        self._check_name(adapter.name)
        if not 0 < adapter.rank <= self.max_lora_rank:
            raise AdapterError(
                f"adapter {adapter.name!r}: rank {adapter.rank} is not within 1..max_lora_rank "
                f"{self.max_lora_rank}"
            )
        for module, (features_in, features_out) in self.spec.modules.items():
            layers = self.spec.num_layers
            for side, array, shape in (
                ("A", adapter.a.get(module), (layers, features_in, adapter.rank)),
                ("B", adapter.b.get(module), (layers, adapter.rank, features_out)),
            ):
                if array is None or array.shape != shape:
                    found = None if array is None else list(array.shape)
                    raise AdapterError(
                        f"adapter {adapter.name!r}: {module} {side} is {found}, needs {list(shape)}"
                    )
        return adapter

    def _check_name(self, name: str) -> None:
        if not name:
            raise AdapterError("an adapter needs a non-empty name")
        if self.max_loras == 0:
            raise AdapterError(f"adapter {name!r}: this engine holds no adapters (max_loras is 0)")

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
            self._free.append(slot)  # its columns stay, masked off, until the next packing
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
            self._resident[name] = slot
            self._pack()
            self.loads += 1
        self._resident.move_to_end(name)
        self._running[name] += 1
        return slot

    def release(self, name: str) -> None:
        if self._running[name] <= 0:
            raise ValueError(f"adapter {name!r} released more often than acquired")
        self._running[name] -= 1

    def mask(self, adapter_slots: list[int]) -> np.ndarray:
        """The export's lora_mask for rows with these adapter slots: [rows, 1, columns], ones over
        the columns of the row's slot (none for slot 0)."""
        mask = np.zeros((len(adapter_slots), 1, self.columns), np.float32)
        for row, slot in enumerate(adapter_slots):
            if slot:
                first, rank = self._offsets[slot]
                mask[row, 0, first : first + rank] = 1.0
        return mask

    def bindings(self) -> list[tuple[str, list[int], np.ndarray]]:
        """(input name, shape, array) of every layer's A and B, views into the stacks: the runner
        binds them by address (they stay put until the next packing, see `version`)."""
        return self._bindings

    def zero_bindings(self) -> list[tuple[str, list[int], np.ndarray]]:
        """What a call in which no row has an adapter binds: one zero column per projection (the
        branch adds exactly 0.0 at the least cost the graph allows); its mask is [rows, 1, 1]."""
        return self._zero_bindings

    def _take_slot(self) -> int | None:
        if self._free:
            return self._free.pop(0)
        victim = next((n for n in self._resident if not self._running[n]), None)
        if victim is None:
            return None
        self.evictions += 1
        return self._resident.pop(victim)

    def _pack(self) -> None:
        """New stacks holding the resident adapters side by side, in slot order, each with its
        own rank, in every module's block of its branch."""
        offsets = {}
        first = 0
        for slot, name in sorted((slot, name) for name, slot in self._resident.items()):
            offsets[slot] = (first, self._known[name].rank)
            first += self._known[name].rank
        columns = max(first, 1)  # no zero-sized inputs: one zero column when none is resident
        self.a = {}
        self.b = {}
        self._bindings = []
        for branch, modules in self.spec.branch_modules.items():
            a, b = _branch_stacks(self.spec, modules, columns)
            for slot, (first, rank) in offsets.items():
                adapter = self._known[self._slot_name(slot)]
                out = 0
                for j, module in enumerate(modules):
                    width = self.spec.modules[module][1]
                    cols = slice(j * columns + first, j * columns + first + rank)
                    a[:, :, cols] = adapter.a[module]
                    b[:, cols, out : out + width] = adapter.b[module]
                    out += width
            self.a[branch] = a
            self.b[branch] = b
            for layer in range(self.spec.num_layers):
                self._bindings.append((a_input(layer, branch), list(a.shape[1:]), a[layer]))
                self._bindings.append((b_input(layer, branch), list(b.shape[1:]), b[layer]))
        self._offsets = offsets
        self.columns = columns
        self.version += 1

    def _slot_name(self, slot: int) -> str:
        return next(name for name, held in self._resident.items() if held == slot)


def _branch_stacks(spec: LoraSpec, modules: tuple[str, ...], columns: int) -> tuple[np.ndarray, ...]:
    """Zeroed A [layers, in, n·columns] and B [layers, n·columns, Σ out] of a branch."""
    features_in = spec.modules[modules[0]][0]
    features_out = sum(spec.modules[m][1] for m in modules)
    width = len(modules) * columns
    a = np.zeros((spec.num_layers, features_in, width), np.float32)
    b = np.zeros((spec.num_layers, width, features_out), np.float32)
    return a, b


def _zero_bindings(spec: LoraSpec) -> list[tuple[str, list[int], np.ndarray]]:
    """One zero column per module, each branch's shared by its layers (read only)."""
    out = []
    for branch, modules in spec.branch_modules.items():
        a, b = _branch_stacks(spec, modules, 1)
        for layer in range(spec.num_layers):
            out.append((a_input(layer, branch), list(a.shape[1:]), a[0]))
            out.append((b_input(layer, branch), list(b.shape[1:]), b[0]))
    return out


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
