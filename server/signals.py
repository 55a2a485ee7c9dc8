"""SIGINT and SIGTERM for the whole life of `python -m server`, from its first line to its exit.

The first signal asks for a stop: a start in progress gives up (TritonServer.stop_requested) and a
running server drains. A second one forces: tritonserver's process group gets SIGKILL (Ctrl-C
twice when a drain or a 30-minute GPU engine load should not be waited for). Handlers must be in
place before tritonserver starts: Python's default SIGTERM action would end this process and leave
tritonserver, in a session of its own, running without a supervisor.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


class StopSignals:
    def __init__(self):
        self.requested = threading.Event()
        self.signum: int | None = None
        self.force: Callable[[], None] | None = None  # set once there is something to kill
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, _frame) -> None:
        # Runs in the main thread between bytecodes, possibly inside Popen.wait(): only set flags
        # and send signals here (Popen's wait lock is not reentrant).
        if self.signum is None:
            self.signum = signum
            self.requested.set()
        elif self.force is not None:
            self.force()

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "none"
