"""`python -m build_engines lora-speed`: what LoRA costs one decode call, side by side in one process.

Three runners over the same rows (`--rows` sequences decoding at position `--position`), called in
turn `--calls` times so that a busy machine slows them alike, and each call's median time printed:
the plain export; the LoRA-capable export with no adapter in any row; the same with the adapters
under `--adapters` (PEFT directories, every one resident) on every row but each fourth, which stays
on the base model (as bench/lora.py mixes them). A figure, not a test: the tests assert behaviour.

Beside the wall time, the process's CPU time per call: on a machine shared by more runnable threads
than cores, a call's wall time is mostly the time it waited for a core (measured here at load 16 on
2 cores: ~880 ms wall for ~140 ms of operator work), and its CPU time is not. It counts every
thread's time, ONNX Runtime's spinning workers' too: with `--threads 1` it is the call's work alone.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from python_backend.engine.runner import ModelRunner

BASE_EVERY = 4  # every 4th row has no adapter


@dataclass(frozen=True)
class Timing:
    """Median seconds per call."""

    wall: float
    cpu: float  # the process's CPU time (every thread's)


def row_adapters(rows: int, adapters: int) -> list[int]:
    """Each row's adapter slot (0: none): every BASE_EVERY-th row none, the others 1..adapters in turn."""
    out = []
    for row in range(rows):
        if row % BASE_EVERY == 0 or adapters == 0:
            out.append(0)
        else:
            with_adapter = row - row // BASE_EVERY - 1
            out.append(1 + with_adapter % adapters)
    return out


def measure(
    plain_dir: Path,
    lora_dir: Path,
    adapter_dir: Path,
    *,
    rows: int = 16,
    position: int = 120,
    calls: int = 20,
    max_lora_rank: int = 16,
    intra_op_threads: int = 0,
) -> dict[str, Timing]:
    """Median wall and CPU seconds per decode call: 'plain', 'lora base only', 'lora with adapters'."""
    names = sorted(p.name for p in adapter_dir.iterdir() if p.is_dir())
    plain = ModelRunner(plain_dir, rows, position + 1, intra_op_threads)
    lora = ModelRunner(
        lora_dir,
        rows,
        position + 1,
        intra_op_threads,
        max_loras=max(len(names), 1),
        max_lora_rank=max_lora_rank,
    )
    slots = []
    for name in names:
        lora.adapters.register(name, adapter_dir / name)
        slots.append(lora.adapters.acquire(name))  # resident, as running sequences hold them
    mixed = [slots[i - 1] if i else 0 for i in row_adapters(rows, len(slots))]
    positions = [(100 + row, position) for row in range(rows)]  # (token, position) of each row
    cases = {
        "plain": lambda: plain.decode(positions),
        "lora base only": lambda: lora.decode(positions, [0] * rows),
        "lora with adapters": lambda: lora.decode(positions, mixed),
    }
    for case in cases.values():  # first-call allocations
        case()
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(calls):
        for name, case in cases.items():
            started = time.perf_counter()
            started_cpu = time.process_time()
            case()
            cpu[name].append(time.process_time() - started_cpu)
            wall[name].append(time.perf_counter() - started)
    return {
        name: Timing(wall=statistics.median(wall[name]), cpu=statistics.median(cpu[name])) for name in cases
    }


def report(medians: dict[str, Timing], adapters: int) -> str:
    plain = medians["plain"]
    lines = []
    for name, timing in medians.items():
        label = f"{name} ({adapters} adapters + base rows)" if name == "lora with adapters" else name
        lines.append(
            f"  {label:<44} {1000 * timing.wall:7.1f} ms/call  {plain.wall / timing.wall:.2f}x plain's speed"
            f"  | CPU {1000 * timing.cpu:7.1f} ms/call  {plain.cpu / timing.cpu:.2f}x"
        )
    return "\n".join(lines)
