"""Keeps a tritonserver healthy: restarts it when it or one of its Python-backend stubs dies.

Triton 2.51 notices a dead stub only when a request reaches it ("Stub process 'engine_0_0' is not
healthy"), keeps reporting the model ready, and does not restart a decoupled model's stub. The
engine model also exits its own stub when its engine thread dies (see model_repository/engine).
So the supervisor watches the stub processes and, when one disappears, restarts the whole server
(readiness is down meanwhile); after `max_restarts` within `window_s` it gives up and exits
non-zero so an orchestrator restarts the pod instead.
"""

from __future__ import annotations

import logging
import time

from .stubs import stub_processes
from .tritonserver import TritonServer

log = logging.getLogger("triton_llm.supervisor")


class Supervisor:
    def __init__(self, server: TritonServer, max_restarts: int = 3, window_s: float = 600.0):
        self.server = server
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.restarts: list[float] = []
        self.expected: dict[int, str] = {}

    def start(self) -> None:
        self.server.start()
        self.expected = stub_processes(self.server.process.pid)

    def problem(self) -> str | None:
        """Why the server needs a restart, or None while it is healthy."""
        process = self.server.process
        if process is None or process.poll() is not None:
            return f"tritonserver exited with code {None if process is None else process.returncode}"
        alive = stub_processes(process.pid)
        dead = sorted(name for pid, name in self.expected.items() if pid not in alive)
        if dead:
            return f"Python-backend stub(s) died: {', '.join(dead)}"
        return None

    def check(self) -> bool:
        """Restart the server if needed; False when restarts are exhausted (the caller exits)."""
        reason = self.problem()
        if reason is None:
            return True
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < self.window_s] + [now]
        if len(self.restarts) > self.max_restarts:
            log.error("%s; %d restarts within %.0f s, giving up", reason, self.max_restarts, self.window_s)
            self.server.stop(timeout_s=10)
            return False
        log.warning("%s; restarting tritonserver (%d/%d)", reason, len(self.restarts), self.max_restarts)
        self.server.stop(timeout_s=10)
        self.start()
        return True
