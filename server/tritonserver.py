"""Start, health-check and stop a real `tritonserver` process (installation.py finds it and sets
up the environment it runs in)."""

from __future__ import annotations

import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import argv_scrub, drain, procfs, stubs
from .installation import environment, find_installation
from .options import ADMIN_HEADER, RESTRICTED_APIS, GrpcTls, ServerOptions, command

__all__ = [
    "ADMIN_HEADER",
    "RESTRICTED_APIS",
    "GrpcTls",
    "ServerOptions",
    "StartupInterrupted",
    "TritonServer",
    "command",
    "port_in_use",
]


class StartupInterrupted(RuntimeError):
    """A stop was requested (SIGINT/SIGTERM) before the server became ready; it has been stopped."""


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


_prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child of fork() only calls it
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it ends, even by SIGKILL, so
    a killed supervisor never leaves tritonserver running (it is in a session of its own, so the
    terminal's signals do not reach it). Hence: start servers from a thread that outlives them."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def process_group_alive(pgid: int) -> bool:
    """True while a process of group `pgid` still runs. A zombie does not count: it holds no port and
    no memory, and one whose parent died first (the OpenVINO engine's own process is a child of its
    stub, not of tritonserver) waits for PID 1 to reap it, which on these machines (PID 1 is not an
    init) happens only now and then: counted, it would keep stop() waiting, up to its 10 s deadline,
    after Triton had exited."""
    return any(proc.pgrp == pgid and proc.state != "Z" for proc in procfs.processes())


class TritonServer:
    """A running tritonserver; use as a context manager or call start()/stop().

    Setting `stop_requested` (from a signal handler) makes a start() in progress stop the server
    and raise StartupInterrupted instead of waiting, at any phase of startup."""

    def __init__(self, options: ServerOptions, log_path: Path | None = None):
        self.options = options
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.stop_requested = threading.Event()
        self.admin_key_hidden = False
        self._backend_dir: Path | None = None
        self._log = None

    def start(self, ready_timeout_s: float = 300.0) -> TritonServer:
        o = self.options
        busy = [p for p in o.ports if port_in_use(o.host, p)]
        if busy:
            raise RuntimeError(
                f"port(s) {busy} on {o.host} already in use: is another server running? "
                "Stop it or choose other ports (HTTP_PORT=, GRPC_PORT=, METRICS_PORT=)"
            )
        installation = find_installation()
        self._interrupted()
        # Appended: a restart after a crash must not erase the log that shows the crash.
        self._log = open(self.log_path, "a") if self.log_path else None  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            command(o, installation.binary, installation.backend_dir),
            env=environment(installation),
            stdout=self._log or None,
            stderr=subprocess.STDOUT if self._log else None,
            cwd=Path(o.model_repository).resolve(),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._backend_dir, self.admin_key_hidden = installation.backend_dir, False
        try:
            self.wait_ready(ready_timeout_s)
        except BaseException:
            # Whatever ended the wait (an exit, the timeout, an interrupt, an error of ours), the
            # half-started server goes with it: stubs that lose tritonserver while models load
            # stay behind for good.
            self.stop(timeout_s=10)
            raise
        self._hide_admin_key()  # if the server got ready between two looks at its libraries
        return self

    def _hide_admin_key(self) -> None:
        """Blank the admin key in tritonserver's command line once it has parsed its flags (argv_scrub.py)."""
        if not self.admin_key_hidden and argv_scrub.flags_parsed(self.process.pid, self._backend_dir):
            self.admin_key_hidden = argv_scrub.scrub(self.process.pid, self.options.admin_key)

    def _interrupted(self) -> None:
        if self.stop_requested.is_set():  # start() stops what it started
            raise StartupInterrupted("stop requested before tritonserver was ready; stopped")

    def is_ready(self) -> bool:
        """HTTP says ready and the metrics endpoint answers: tritonserver opens the metrics port after
        the HTTP one, so a health check alone let a caller (a test's first metrics read, a
        Prometheus scrape) find it closed."""
        o = self.options
        try:
            with urllib.request.urlopen(f"{o.http_url}/v2/health/ready", timeout=2) as response:
                if response.status != 200:
                    return False
            with urllib.request.urlopen(f"http://{o.host}:{o.metrics_port}/metrics", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            # HTTPException: not Triton answering, e.g. our own request echoed by a socket that
            # connected to itself (possible on a port in the ephemeral range before Triton listens).
            return False

    def wait_ready(self, timeout_s: float) -> None:
        """Return once Triton is ready; raise if it exits, the time is up or a stop is requested
        (start() then stops what is left)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._interrupted()
            if self.process is not None and self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(
                    f"tritonserver exited with code {code} before becoming ready"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            self._hide_admin_key()
            if self.is_ready():
                return
            self.stop_requested.wait(0.5)
        raise TimeoutError(
            f"tritonserver not ready after {timeout_s} s"
            + (f"; see {self.log_path}" if self.log_path else "")
        )

    def stop(self, timeout_s: float | None = None, drain_first: bool = False) -> int | None:
        """SIGTERM (Triton drains in-flight requests up to exit_timeout_s), then SIGKILL if needed;
        returns when tritonserver and every process of its group (the Python-backend stubs) are gone,
        so its ports are free. `drain_first`: wait up to exit_timeout_s for the engine to be idle
        before the SIGTERM (drain.py: gRPC streams then finish instead of being cut)."""
        if self.process is None:
            return None
        pgid = self.process.pid  # start_new_session: the group is tritonserver's pid
        if self.process.poll() is None:
            o = self.options
            if drain_first:  # a second signal kills Triton: its metrics go, and so does the wait
                drain.wait_until_idle(f"http://{o.host}:{o.metrics_port}/metrics", o.exit_timeout_s)
            watch = stubs.watchable(Path(o.model_repository)) and bool(stubs.stub_processes(pgid))
            self.process.send_signal(signal.SIGTERM)
            if not self._wait_exit(timeout_s if timeout_s is not None else o.exit_timeout_s + 5, watch):
                # Past its exit timeout Triton 2.51 may block for good in its gRPC server's shutdown.
                self.kill()
                self.process.wait()
        # A SIGTERM before Triton installs its handler (while models load) ends tritonserver at once,
        # and its stubs only notice a while later: end what is left of the group.
        if process_group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while process_group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        if self._log:
            self._log.close()
            self._log = None
        return self.process.returncode

    def _wait_exit(self, timeout_s: float, watch_stubs: bool, grace_s: float = 2.0) -> bool:
        """Wait for tritonserver to exit; False at the timeout. With watch_stubs, a server whose
        stubs have all exited for `grace_s` has only ensembles left (stubs.py: Triton 2.51's stall)
        and is ended with exit code 0. Triton checks for live models once a second, so a normal
        exit comes within about a second of the last stub's; 2 s leaves it that time."""
        deadline = time.monotonic() + timeout_s
        stubs_gone_at = None
        while time.monotonic() < deadline:
            try:
                self.process.wait(0.2)
                return True
            except subprocess.TimeoutExpired:
                pass
            if not watch_stubs:
                continue
            if not stubs.only_ensembles_left(self.process.pid):
                stubs_gone_at = None
            elif stubs_gone_at is None:
                stubs_gone_at = time.monotonic()
            elif time.monotonic() - stubs_gone_at >= grace_s:
                print(
                    "tritonserver: every model with a process has unloaded, only the ensemble is left "
                    "(Triton 2.51 keeps it referenced after a gRPC stream cancelled past its final "
                    "response); ending it",
                    file=sys.stderr,
                    flush=True,
                )
                self.kill()
                self.process.wait()
                self.process.returncode = 0
                return True
        return False

    def kill(self) -> None:
        """SIGKILL tritonserver and its stubs (a second Ctrl-C, or a drain past its timeout). Does not
        wait, so a signal handler may call it while stop() waits."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
