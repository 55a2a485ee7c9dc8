"""What both engine models do when their engine thread dies: end the model's stub process.

The failure then shows (Triton answers 'stub not healthy', and the supervisor in server/ restarts
the server) rather than a process that looks alive rejecting every request. LLMEngine calls the
handler once, from the dying engine thread, after every request got its final callback.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

EXIT_CODE = 70  # EX_SOFTWARE: an internal software error
SEND_GRACE_S = 0.5  # time for the error responses already sent to leave the process


def exit_stub(log: logging.Logger) -> Callable[[BaseException], None]:
    """The engine's on_fatal handler: log the cause on `log`, then exit the process."""

    def on_fatal(exc: BaseException) -> None:
        log.error("engine thread died (%s); exiting the model process", exc)
        time.sleep(SEND_GRACE_S)
        os._exit(EXIT_CODE)

    return on_fatal
