"""How busy the machine was during a run, and how much of that was not the server or the load generator.

On a shared machine another process's load skews latency; a comparison whose runs saw different
background load is not comparing deployments. Linux /proc only; elsewhere the figures are None.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from server import procfs


def _machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU jiffies summed over all cores since boot."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _tree_jiffies(root_pid: int) -> int:
    """utime + stime of root_pid and all its descendants (alive now)."""
    return sum(p.cpu_ticks for p in procfs.tree(root_pid))


def _own_jiffies() -> int:
    """CPU of this process and its waited-for children (the Locust subprocess), in jiffies."""
    hz = os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime) * hz)


@dataclass
class CpuMeter:
    """Start before the load, `stop()` after: shares of the machine's CPU capacity over the interval."""

    server_pid: int | None = None

    def __post_init__(self):
        self._start = _machine_jiffies()
        self._server = _tree_jiffies(self.server_pid) if self.server_pid else 0
        self._own = _own_jiffies()

    def stop(self) -> dict:
        end = _machine_jiffies()
        if self._start is None or end is None or end[1] <= self._start[1]:
            return {"machine_busy": None, "server": None, "other_processes": None}
        total = end[1] - self._start[1]
        busy = (end[0] - self._start[0]) / total
        own = (_own_jiffies() - self._own) / total
        out = {
            "cores": os.cpu_count(),
            "machine_busy": busy,
            "load_generator": own,
            "server": None,
            "other_processes": None,
        }
        if self.server_pid:
            server = (_tree_jiffies(self.server_pid) - self._server) / total
            out.update(server=server, other_processes=max(0.0, busy - server - own))
        return out
