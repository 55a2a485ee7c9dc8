"""Locate, configure, start, health-check and stop a real `tritonserver` process.

Here the binary comes from the `nvidia-pytriton` wheel (Triton 2.51 with the Python backend). Three
things make it work outside PyTriton: its bundled shared libraries on LD_LIBRARY_PATH, the Python
backend stub for the running Python copied next to `libtriton_python.so`, and this venv's `bin/`
first on PATH (the stub takes its `sys.prefix`, hence its packages, from the first `python3`).
In an NGC container, pass `binary="tritonserver"` and the system backends are used instead.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

RESTRICTED_HTTP_APIS = "model-repository,shared-memory,trace,logging"
ADMIN_HEADER = "triton-admin-key"


@dataclass(frozen=True)
class ServerOptions:
    model_repository: Path
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    host: str = "127.0.0.1"
    exit_timeout_s: int = 30  # SIGTERM drains in-flight requests for at most this long
    admin_key: str = field(default_factory=lambda: os.environ.get("TRITON_ADMIN_KEY") or secrets.token_hex(16))
    log_verbose: int = 0

    def __post_init__(self) -> None:
        ports = (self.http_port, self.grpc_port, self.metrics_port)
        if len(set(ports)) != 3 or not all(0 < p < 65536 for p in ports):
            raise ValueError(f"ports must be three distinct values in 1..65535, got {ports}")
        if not Path(self.model_repository).is_dir():
            raise ValueError(f"{self.model_repository}: model repository does not exist (run `make repo`)")

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"


@dataclass(frozen=True)
class Installation:
    binary: Path
    backend_dir: Path
    lib_dir: Path | None


def find_installation() -> Installation:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        system = shutil.which("tritonserver")
        if system:
            return Installation(Path(system), Path("/opt/tritonserver/backends"), None)
        raise FileNotFoundError("tritonserver not found: install nvidia-pytriton (make venv) or use an NGC image")
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    installation = Installation(root / "bin" / "tritonserver", root / "backends",
                                root.parent.parent / "nvidia_pytriton.libs")
    _install_python_stub(root)
    return installation


def _install_python_stub(root: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    target = root / "backends" / "python" / "triton_python_backend_stub"
    if not stub.is_file():
        raise FileNotFoundError(f"no Python backend stub for Python {version} in {stub.parent.parent}")
    if not target.is_file() or target.stat().st_size != stub.stat().st_size:
        shutil.copy2(stub, target)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def command(options: ServerOptions, installation: Installation) -> list[str]:
    return [
        str(installation.binary),
        f"--model-repository={Path(options.model_repository).resolve()}",
        f"--backend-directory={installation.backend_dir}",
        f"--http-address={options.host}", f"--http-port={options.http_port}",
        f"--grpc-address={options.host}", f"--grpc-port={options.grpc_port}",
        f"--metrics-address={options.host}", f"--metrics-port={options.metrics_port}",
        "--model-control-mode=none",
        "--strict-readiness=true",
        f"--exit-timeout-secs={options.exit_timeout_s}",
        "--metrics-config=histogram_latencies=true",
        # Admin APIs need a header key; inference, health and metadata stay open.
        f"--http-restricted-api={RESTRICTED_HTTP_APIS}:{ADMIN_HEADER}={options.admin_key}",
        f"--grpc-restricted-protocol={RESTRICTED_HTTP_APIS}:{ADMIN_HEADER}={options.admin_key}",
        # A per-process prefix lets several servers (tests, serve) share /dev/shm.
        f"--backend-config=python,shm-region-prefix-name=tllm{os.getpid()}_{options.http_port}_",
        f"--log-verbose={options.log_verbose}",
    ]


def environment(installation: Installation) -> dict[str, str]:
    env = dict(os.environ)
    # The repository carries its own code (python_backend/ in each version dir); a PYTHONPATH
    # leaking in from a dev shell would hide a repository that is not self-contained.
    env.pop("PYTHONPATH", None)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    lib_dirs = []
    # The stub links libpython3.X dynamically; without this it may pick the distribution's
    # libpython (another patch release) while importing this interpreter's extension modules,
    # which fails on symbols such as _PyModule_Add (seen here with pyenv 3.11.7 vs Debian 3.11.2).
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and list(Path(libdir).glob(f"libpython{sys.version_info.major}.{sys.version_info.minor}*.so*")):
        lib_dirs.append(libdir)
    if installation.lib_dir is not None:
        lib_dirs.append(str(installation.lib_dir))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(lib_dirs + [p for p in [env.get("LD_LIBRARY_PATH")] if p])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


class TritonServer:
    """A running tritonserver; use as a context manager or call start()/stop()."""

    def __init__(self, options: ServerOptions, log_path: Path | None = None):
        self.options = options
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self, ready_timeout_s: float = 300.0) -> TritonServer:
        o = self.options
        busy = [p for p in (o.http_port, o.grpc_port, o.metrics_port) if port_in_use(o.host, p)]
        if busy:
            raise RuntimeError(f"port(s) {busy} on {o.host} already in use: is another server running? "
                               "Stop it or choose other ports (HTTP_PORT=, GRPC_PORT=, METRICS_PORT=)")
        installation = find_installation()
        self._log = open(self.log_path, "w") if self.log_path else None  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(command(o, installation), env=environment(installation),
                                        stdout=self._log or None, stderr=subprocess.STDOUT if self._log else None,
                                        cwd=Path(o.model_repository).resolve(), start_new_session=True)
        self.wait_ready(ready_timeout_s)
        return self

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.options.http_url}/v2/health/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited with code {self.process.returncode} before becoming ready"
                                   + (f"; see {self.log_path}" if self.log_path else ""))
            if self.is_ready():
                return
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"tritonserver not ready after {timeout_s} s" + (f"; see {self.log_path}" if self.log_path else ""))

    def stop(self, timeout_s: float | None = None) -> int | None:
        """SIGTERM (Triton drains in-flight requests up to exit_timeout_s), then SIGKILL if needed."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s if timeout_s is not None else self.options.exit_timeout_s + 15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log:
            self._log.close()
        return self.process.returncode

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
