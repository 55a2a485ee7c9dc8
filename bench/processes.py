"""The processes the benchmarks run and watch: `python -m server` and the OpenAI gateway as operators
start them (the soak, the fault injection), their memory, the engine's load as its metrics report it,
and the CPU repository's tritonserver as `make bench` starts it, LoRA on or off (the multi-LoRA rows)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from build_engines.onnx import repository
from server import drain, procfs
from server.tritonserver import ServerOptions, TritonServer

ROOT = Path(__file__).resolve().parent.parent


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (tritonserver + model stubs)."""
    total = 0
    for p in procfs.tree(pid):
        try:
            for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds_by_role(pid: int, models: tuple[str, ...]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process of `pid`'s tree, named by role: the
    Python-backend stub of each of `models` (its command line holds the model's directory),
    tritonserver, and the rest by executable."""
    ticks, used = os.sysconf("SC_CLK_TCK"), {}
    for p in procfs.tree(pid):
        try:
            argv = Path(f"/proc/{p.pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        role = next(
            (m for m in models if "stub" in argv[0] and any(f"/{m}/" in a for a in argv)), Path(argv[0]).name
        )
        used[role] = used.get(role, 0.0) + p.cpu_ticks / ticks
    return used


def metric(metrics_url: str, name: str) -> float | None:
    """Sum of a Prometheus metric's samples, or None when the endpoint is down."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            lines = response.read().decode().splitlines()
    except OSError:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in lines if line.split("{", 1)[0].split(" ", 1)[0] == name
    )


def cpu_server(
    name: str,
    checkpoint_dir: Path,
    onnx_dir: Path,
    ports: tuple[int, int, int],
    *,
    adapter_dir: Path | None = None,
    max_loras: int = 0,
    max_lora_rank: int = 16,
    stream_interval: int | str = "auto",
) -> TritonServer:
    """A tritonserver (not started: `with` starts it) on the CPU repository build/<name> over
    onnx_dir, with `make bench`'s engine settings (max_seq_len 1024, max_num_seqs 16); its log is
    build/<name>.log. adapter_dir: the LORA_DIR whose adapters the engine serves by name (onnx_dir
    then a LoRA-capable export, max_loras of rank up to max_lora_rank resident); None: LoRA off.
    stream_interval: the engine's framing (EngineModelConfig), the assembly's default unless given."""
    repo = repository.assemble_cpu(
        ROOT / "build" / name,
        checkpoint_dir,
        onnx_dir,
        max_seq_len=1024,
        max_num_seqs=16,
        lora_dir=str(adapter_dir.resolve()) if adapter_dir else "",
        max_loras=max_loras,
        max_lora_rank=max_lora_rank,
        stream_interval=stream_interval,
    )
    options = ServerOptions(repo, *ports, exit_timeout_s=5)
    return TritonServer(options, log_path=ROOT / "build" / f"{name}.log")


def wait_until(predicate, timeout_s: float, poll_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return False


class Server:
    """`python -m server` on three ports, its output in `log_dir`."""

    def __init__(
        self,
        repository: Path,
        ports: tuple[int, int, int],
        log_dir: Path,
        exit_timeout_s: int = 10,
        max_restarts: int = 5,
    ):
        http, grpc, metrics = ports
        self.http_url, self.grpc_url = f"http://127.0.0.1:{http}", f"127.0.0.1:{grpc}"
        self.metrics_url = f"http://127.0.0.1:{metrics}/metrics"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._out = open(log_dir / "server.out", "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
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
                "--max-restarts",
                str(max_restarts),
                "--log-file",
                str(log_dir / "tritonserver.log"),
            ],
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/v2/health/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout_s: float = 300) -> None:
        if (
            not wait_until(lambda: self.ready() or self.process.poll() is not None, timeout_s)
            or not self.ready()
        ):
            raise RuntimeError(f"python -m server not ready (exit code {self.process.poll()})")

    def tritonserver_pid(self) -> int | None:
        return next(iter(procfs.children(self.process.pid)), None)

    def stub(self, model: str) -> int | None:
        """The pid of `model`'s Python-backend stub (its instance name is an argument: engine_0_0)."""
        triton = self.tritonserver_pid()
        for pid in procfs.children(triton) if triton else []:
            try:
                if f"{model}_0_".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                pass
        return None

    def engine_busy(self) -> float | None:
        return drain.engine_busy(self.metrics_url)

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGINT)  # the second signal kills tritonserver's group
                self.process.wait(30)
        self._out.close()
        return self.process.returncode


class Gateway:
    def __init__(self, grpc_url: str, port: int, log_dir: Path):
        self.url = f"http://127.0.0.1:{port}"
        self._out = open(log_dir / f"gateway-{port}.out", "a")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "client.openai_gateway",
                "--port",
                str(port),
                "--triton-grpc",
                grpc_url,
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        if not wait_until(self._up, 60, 0.2):
            self.stop()
            raise RuntimeError("the gateway did not come up")

    def _up(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/v1/models", timeout=1).close()
            return True
        except OSError:
            return False

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self._out.close()
