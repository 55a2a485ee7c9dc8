"""`launch`: one tritonserver per TensorRT-LLM rank under mpirun, supervised as one service.

Rank 0 is the only one with HTTP/gRPC/metrics endpoints; the other ranks load just the `engine`
model (the backend's workers join rank 0's engine over MPI). Each rank gets its own Python-backend
shared-memory prefix so their stubs do not collide in /dev/shm.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from python_backend.contract import repo_paths

from .. import manifest as shared_manifest
from . import pins

ENGINE_MODEL = "engine"


@dataclass
class LaunchConfig:
    model_repo: Path
    tp: int | None = None  # default: from the repository manifest, else 1
    pp: int | None = None
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    host: str = "127.0.0.1"  # where readiness is polled and ports are checked
    tritonserver: str = "tritonserver"
    mpirun: str = "mpirun"
    ready_timeout_s: float = 1800.0  # loading a large engine over TP ranks takes minutes

    def __post_init__(self) -> None:
        self.model_repo = Path(self.model_repo)
        repo_tp, repo_pp = _repo_parallelism(self.model_repo)
        for name, repo_value in (("tp", repo_tp), ("pp", repo_pp)):
            value = getattr(self, name)
            if value is None:
                setattr(self, name, repo_value or 1)
            elif value < 1:
                raise ValueError(f"--{name} must be positive, got {value}")
            elif repo_value is not None and value != repo_value:
                raise ValueError(
                    f"--{name} {value} does not match the engine in {self.model_repo} "
                    f"(built for {name}={repo_value}); the world size is fixed when the checkpoint "
                    "is converted"
                )
        ports = {
            "--http-port": self.http_port,
            "--grpc-port": self.grpc_port,
            "--metrics-port": self.metrics_port,
        }
        for flag, port in ports.items():
            if not 0 < port < 65536:
                raise ValueError(f"{flag} must be a TCP port (1-65535), got {port}")
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"ports must differ, got {ports}")

    @property
    def world_size(self) -> int:
        return self.tp * self.pp


def _repo_parallelism(repo: Path) -> tuple[int | None, int | None]:
    try:
        data = shared_manifest.read(repo)
    except FileNotFoundError:
        return None, None
    return data.get("tp"), data.get("pp")


def rank_command(cfg: LaunchConfig, rank: int) -> list[str]:
    cmd = [
        cfg.tritonserver,
        f"--model-repository={cfg.model_repo}",
        "--disable-auto-complete-config",
        f"--backend-config=python,shm-region-prefix-name=prefix{rank}_",
    ]
    if rank == 0:
        cmd += [
            f"--http-port={cfg.http_port}",
            f"--grpc-port={cfg.grpc_port}",
            f"--metrics-port={cfg.metrics_port}",
        ]
    else:
        # Worker ranks: no endpoints (nothing to bind, nothing to collide with rank 0), engine only.
        cmd += [
            "--allow-http=false",
            "--allow-grpc=false",
            "--allow-metrics=false",
            "--model-control-mode=explicit",
            f"--load-model={ENGINE_MODEL}",
        ]
    return cmd


def command(cfg: LaunchConfig) -> list[str]:
    """mpirun's MPMD form: `-n 1 <rank 0 cmd> : -n 1 <rank 1 cmd> : ...`."""
    cmd = [cfg.mpirun, "--allow-run-as-root"]
    for rank in range(cfg.world_size):
        if rank:
            cmd.append(":")
        cmd += ["-n", "1", *rank_command(cfg, rank)]
    return cmd


def port_in_use(host: str, port: int) -> bool:
    """True when something listens on host:port or the port cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(cfg: LaunchConfig) -> None:
    busy = [
        f"{flag} {port}"
        for flag, port in (
            ("--http-port", cfg.http_port),
            ("--grpc-port", cfg.grpc_port),
            ("--metrics-port", cfg.metrics_port),
        )
        if port_in_use(cfg.host, port)
    ]
    if busy:
        raise ValueError(
            f"port already in use on {cfg.host}: {', '.join(busy)}; stop what is listening there "
            "or choose other ports (--http-port/--grpc-port/--metrics-port)"
        )


def check_tools(cfg: LaunchConfig) -> None:
    missing = [tool for tool in (cfg.mpirun, cfg.tritonserver) if shutil.which(tool) is None]
    if missing:
        raise ValueError(
            f"{' and '.join(missing)} not found on PATH; launch inside {pins.NGC_IMAGE} on a GPU "
            "machine (or use --dry-run to print the command)"
        )


def server_ready(host: str, http_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{http_port}/v2/health/ready", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def supervise(
    cmd: list[str],
    *,
    ready=lambda: False,
    ready_timeout_s: float = 1800.0,
    grace_s: float = 30.0,
    out=print,
    poll_s: float = 1.0,
) -> int:
    """Start cmd in its own process group, report readiness, and on SIGINT/SIGTERM stop every rank.

    mpirun forwards SIGTERM to all ranks; the whole group is killed if they are not gone after grace_s.
    """
    proc = subprocess.Popen(cmd, start_new_session=True)
    stopping = {"signal": None}

    def stop(signum, _frame):
        stopping["signal"] = signum

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = time.monotonic()
        announced = False
        while proc.poll() is None and stopping["signal"] is None:
            if not announced and ready():
                out(f"[launch] ready after {time.monotonic() - started:.0f}s")
                announced = True
            elif not announced and time.monotonic() - started > ready_timeout_s:
                out(f"[launch] not ready after {ready_timeout_s:.0f}s; stopping all ranks")
                stopping["signal"] = signal.SIGTERM
                break
            time.sleep(poll_s)
        if proc.poll() is None:
            _stop_group(proc, grace_s)
            out("[launch] all ranks stopped")
            return 0 if stopping["signal"] in (signal.SIGINT, signal.SIGTERM) and announced else 1
        return proc.returncode
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_group(proc: subprocess.Popen, grace_s: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def launch(cfg: LaunchConfig, *, dry_run: bool = False, out=print) -> int:
    cmd = command(cfg)
    if dry_run:
        out(shlex.join(cmd))
        return 0
    # Every path a config names exists (the engine, the tokenizer info): else the backend refuses the
    # engine with a message that hides the cause (python_backend/contract/repo_paths.py).
    repo_paths.check_repository(cfg.model_repo)
    check_ports(cfg)
    check_tools(cfg)
    out(f"[launch] {cfg.world_size} rank(s): {shlex.join(cmd)}")
    return supervise(
        cmd, ready=lambda: server_ready(cfg.host, cfg.http_port), ready_timeout_s=cfg.ready_timeout_s, out=out
    )
