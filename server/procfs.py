"""What /proc says about the processes on this machine: the fields of each one's stat file that
stopping a server needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessStat:
    pid: int
    state: str  # "R", "S", ..., "Z" for a zombie
    ppid: int
    pgrp: int


def processes() -> Iterator[ProcessStat]:
    """Every process's stat; one that exits while it is read is left out."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        # The fields after "pid (comm) ": comm may hold spaces and parentheses, so split after the last ")".
        state, ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        yield ProcessStat(int(proc.name), state, int(ppid), int(pgrp))
