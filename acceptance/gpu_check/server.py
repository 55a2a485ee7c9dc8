"""The server gpu-check accepts: `launch` started in the background, polled until ready, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from build_engines.trtllm import launcher

from .config import GpuCheckConfig


def start_server(cfg: GpuCheckConfig, log_path: Path) -> subprocess.Popen:
    """`launch` in its own session, output to log_path; its SIGTERM handler stops every rank."""
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            cfg.commands()["launch"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(cfg: GpuCheckConfig, server: subprocess.Popen, poll_s: float = 2.0) -> tuple[bool, str]:
    started = time.monotonic()
    while time.monotonic() - started < cfg.ready_timeout_s:
        if server.poll() is not None:
            return False, f"the launcher exited with status {server.returncode} before the server was ready"
        if launcher.server_ready(cfg.host, cfg.http_port):
            return True, f"ready after {time.monotonic() - started:.0f} s"
        time.sleep(poll_s)
    return False, f"not ready after {cfg.ready_timeout_s:.0f} s"


def stop_server(server: subprocess.Popen, grace_s: float = 120.0) -> tuple[bool, str]:
    if server.poll() is not None:
        return False, f"the launcher had already exited (status {server.returncode})"
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=grace_s)
        return True, "stopped"
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # the launcher's own group; its ranks are in theirs
        server.wait()
        return False, f"still running {grace_s:.0f} s after SIGTERM; killed"
