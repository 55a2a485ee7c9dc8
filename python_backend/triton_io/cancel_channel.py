"""Postprocessing → engine: "stop the stream with this arrival_time_ns", outside Triton.

Why it exists: Triton's ensemble does not cancel its running `engine` step when a client leaves; it
only marks the later steps' requests cancelled, i.e. the postprocessing requests for the engine's
next responses. Postprocessing therefore learns of the cancellation and has to tell the engine.
Doing that with a BLS `stop` request crashed Triton 2.51's Python stub after a few hundred calls
("pybind11_object_dealloc(): Tried to deallocate unregistered instance!"), taking postprocessing
down. So the message travels on a Unix datagram socket in Linux's abstract namespace (no file to
clean up), named after the tritonserver process both model stubs are children of: several servers
on one host never share a channel. A message is the key as 8 bytes; delivery is best effort (a key
for a stream that already ended is ignored), which is all cancellation needs.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
from collections.abc import Callable

log = logging.getLogger("triton_llm.cancel_channel")
_KEY = struct.Struct("<q")


def address(server_pid: int | None = None) -> str:
    """The channel of the tritonserver whose child this process is (a Python-backend stub)."""
    return f"\0triton-llm-cancel-{server_pid if server_pid is not None else os.getppid()}"


class CancelListener:
    """The engine side: calls on_cancel(key) from a daemon thread for every key received."""

    def __init__(self, on_cancel: Callable[[int], None], channel: str):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(channel)
        self._on_cancel = on_cancel
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="cancel-listener", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                data = self._sock.recv(_KEY.size)
            except OSError:  # closed
                return
            if self._closed:
                return
            if len(data) != _KEY.size:
                log.warning("ignoring a malformed cancel message of %d bytes", len(data))
                continue
            key = _KEY.unpack(data)[0]
            try:
                self._on_cancel(key)
            except Exception:  # one bad callback must not stop cancellation for everyone
                log.exception("cancelling stream %s failed", key)

    def close(self) -> None:
        # shutdown() wakes the blocked recv(); close() alone may not on Linux.
        self._closed = True
        for step in (lambda: self._sock.shutdown(socket.SHUT_RDWR), self._sock.close):
            try:
                step()
            except OSError:
                pass
        self._thread.join(1.0)


class CancelSender:
    """The postprocessing side."""

    def __init__(self, channel: str):
        self._channel = channel
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def send(self, key: int) -> bool:
        """False when nobody listens (the engine is not up) or the message could not be queued."""
        try:
            self._sock.sendto(_KEY.pack(key), self._channel)
            return True
        except OSError as exc:
            log.warning("could not send cancel for stream %s: %s", key, exc)
            return False

    def close(self) -> None:
        self._sock.close()
