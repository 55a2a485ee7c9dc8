"""What /proc says about the processes on this machine: the fields of each one's stat file that
stopping a server, and measuring one, need."""

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
    cpu_ticks: int  # utime + stime, in clock ticks (os.sysconf("SC_CLK_TCK") a second)


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
        fields = stat[stat.rindex(")") + 2 :].split()
        state, ppid, pgrp, utime, stime = fields[0], fields[1], fields[2], fields[11], fields[12]
        yield ProcessStat(int(proc.name), state, int(ppid), int(pgrp), int(utime) + int(stime))


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    return [p.pid for p in processes() if p.ppid == pid]


def tree(root_pid: int) -> list[ProcessStat]:
    """`root_pid` and all its descendants alive now (a server: tritonserver and its model stubs)."""
    stats = list(processes())
    pids, todo = {root_pid}, [root_pid]
    while todo:
        parent = todo.pop()
        for child in (p.pid for p in stats if p.ppid == parent and p.pid not in pids):
            pids.add(child)
            todo.append(child)
    return [p for p in stats if p.pid in pids]
