"""`python -m server` as its own process, as operators and Kubernetes run it, for the signal, shutdown
and fault tests: start it, follow its output, watch its process tree, check that all of it is gone."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from server import procfs
from server.tritonserver import port_in_use

ROOT = Path(__file__).resolve().parents[3]


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class ServerProcess:
    """`python -m server` with the given ports; every line it prints is kept, and every process of
    its tree that was ever seen is remembered (they must all be gone at the end)."""

    def __init__(
        self, repository: Path, ports: tuple[int, int, int], log: Path, *extra: str, exit_timeout_s: int = 10
    ):
        self.ports = ports
        http, grpc, metrics = ports
        command = [
            sys.executable,
            "-m",
            "server",
            "--model-repository",
            str(repository),
            "--http-port",
            str(http),
            "--grpc-port",
            str(grpc),
            "--metrics-port",
            str(metrics),
            "--exit-timeout",
            str(exit_timeout_s),
            "--log-file",
            str(log),
            *extra,
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.seen: set[int] = set()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def watch(self) -> set[int]:
        self.seen |= {p.pid for p in procfs.tree(self.process.pid)} - {self.process.pid}
        return self.seen

    def wait_for_line(self, text: str, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.watch()
            try:
                if text in self.lines.get(timeout=0.05):
                    return
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        raise AssertionError(f"no {text!r} from python -m server; it printed: {''.join(self.output)[-2000:]}")

    def wait_for(self, predicate, timeout_s: float = 180, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.watch()
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"{what} not reached in {timeout_s} s; output: {''.join(self.output)[-2000:]}")

    def tritonserver_pid(self) -> int | None:
        return next(iter(procfs.children(self.process.pid)), None)

    def stubs(self) -> list[int]:
        pid = self.tritonserver_pid()
        return procfs.children(pid) if pid else []

    def signal_and_wait(self, signum: int, timeout_s: float) -> tuple[int, float]:
        """Send `signum`, wait for the exit; (exit code, seconds it took)."""
        self.watch()
        started = time.monotonic()
        self.process.send_signal(signum)
        code = self.process.wait(timeout_s)
        return code, time.monotonic() - started

    def leftovers(self, grace_s: float = 5.0) -> tuple[list[int], list[int]]:
        """(processes of the tree still running, ports still in use) after up to `grace_s`."""
        deadline = time.monotonic() + grace_s
        while True:
            running = sorted(p for p in self.seen if alive(p))
            busy = [p for p in self.ports if port_in_use("127.0.0.1", p)]
            if (not running and not busy) or time.monotonic() > deadline:
                return running, busy
            time.sleep(0.1)

    def kill_all(self) -> None:
        """Test cleanup: nothing of this server may outlive the test, whatever it asserted."""
        for pid in [self.process.pid, *self.watch()]:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self.process.wait()
