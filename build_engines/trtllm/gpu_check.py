"""`gpu-check`: build, assemble, serve and accept a GPU deployment in one command (`make gpu-check`).

Each step is the command a person would type from docs/GPU.md, run with this interpreter:
  0. preflight.py: refuse at once, naming everything missing (nothing is built or started);
  1. `engine` (step 2 of docs/GPU.md; skipped with --reuse-engine when the engine is built);
  2. `gpu-repo` (step 3);
  3. `launch` (step 4) in the background, its log in the run directory, until /v2/health/ready;
  4. the acceptance checks (acceptance/suite.py) against that server;
  5. SIGTERM to the launcher, which stops every rank.
After the preflight a report is always written, results/gpu-check/<run>/report.{json,md}, with
every step and check as a result; the exit status is 0 only when all of them passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import launcher, preflight, recipes

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results" / "gpu-check"
EXIT_PASSED, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
# What the acceptance checks import, with the pins pyproject.toml gives them (docs/GPU.md lists them).
CLIENT_SIDE = {
    "tritonclient": "'tritonclient[all]==2.73.0'",
    "locust": "locust==2.47.0",
    "matplotlib": "matplotlib==3.11.2",
}


class Refused(RuntimeError):
    """This machine cannot run the check; the message names everything missing."""


@dataclass
class GpuCheckConfig:
    checkpoint: Path
    precision: str = "fp16"
    tp: int = 1
    pp: int = 1
    engine_dir: Path | None = None  # default: build/engines/<precision>-tp<tp>-pp<pp>, as `make engines`
    repo: Path = ROOT / "build" / "gpu_model_repository"
    results: Path = RESULTS
    name: str | None = None  # the run's directory; default: time, precision and layout
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    reuse_engine: bool = False
    engine_args: list[str] = field(default_factory=list)  # further `engine` options (ENGINE_ARGS)
    gpu_repo_args: list[str] = field(default_factory=list)  # further `gpu-repo` options (GPU_REPO_ARGS)
    load_seconds: float = 20.0
    load_users: int = 4
    ready_timeout_s: float = 1800.0  # loading a large engine over TP ranks takes minutes

    def __post_init__(self) -> None:
        if self.precision not in recipes.PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(recipes.PRECISIONS)}, got {self.precision!r}"
            )
        if self.tp < 1 or self.pp < 1:
            raise ValueError(f"tp and pp must be >= 1, got tp={self.tp} pp={self.pp}")
        self.checkpoint = Path(self.checkpoint)
        self.engine_dir = Path(
            self.engine_dir or ROOT / "build" / "engines" / f"{self.precision}-tp{self.tp}-pp{self.pp}"
        )
        self.name = self.name or time.strftime("%Y%m%d-%H%M%S") + f"-{self.precision}-tp{self.tp}-pp{self.pp}"

    @property
    def out_dir(self) -> Path:
        return Path(self.results) / self.name

    def commands(self, python: str = sys.executable) -> dict[str, list[str]]:
        """The `python -m build_engines` command of each step, as `make engines` / `gpu-repo` run them."""
        base = [python, "-m", "build_engines"]
        return {
            "engine": [
                *base,
                "engine",
                "--precision",
                self.precision,
                "--checkpoint",
                str(self.checkpoint),
                "--output",
                str(self.engine_dir),
                "--tp",
                str(self.tp),
                "--pp",
                str(self.pp),
                *self.engine_args,
            ],
            "gpu-repo": [
                *base,
                "gpu-repo",
                "--engine-dir",
                str(self.engine_dir),
                "--tokenizer-dir",
                str(self.checkpoint),
                "--output",
                str(self.repo),
                *self.gpu_repo_args,
            ],
            "launch": [
                *base,
                "launch",
                "--model-repo",
                str(self.repo),
                "--http-port",
                str(self.http_port),
                "--grpc-port",
                str(self.grpc_port),
                "--metrics-port",
                str(self.metrics_port),
            ],
        }


def client_side_missing() -> list[str]:
    """The checks' own needs in this interpreter (the NGC image has none of them until installed)."""
    return [
        f"no {module} importable by {sys.executable} (pip install {pin})"
        for module, pin in CLIENT_SIDE.items()
        if importlib.util.find_spec(module) is None
    ]


def busy_ports(cfg: GpuCheckConfig) -> list[str]:
    """Ports already taken. Checked before the build, not only by `launch` after it: a server already
    listening there would otherwise answer the readiness poll and be checked in place of ours."""
    ports = {"--http-port": cfg.http_port, "--grpc-port": cfg.grpc_port, "--metrics-port": cfg.metrics_port}
    return [
        f"port {port} ({flag}) already in use on {cfg.host}"
        for flag, port in ports.items()
        if launcher.port_in_use(cfg.host, port)
    ]


def require_machine(cfg: GpuCheckConfig, machine: preflight.Machine | None = None) -> preflight.Machine:
    """The machine, or Refused naming everything it lacks (checked in this interpreter)."""
    machine = machine or preflight.probe([sys.executable])
    problems = preflight.missing(machine, cfg.checkpoint) + client_side_missing() + busy_ports(cfg)
    if problems:
        raise Refused(preflight.refusal(problems))
    return machine


def _step(name: str, cmd: list[str], runner) -> tuple[bool, dict]:
    """Run one build step in the foreground (its output is the person's progress bar)."""
    print(f"[gpu-check] {name}: {shlex.join(cmd)}", flush=True)
    started = time.monotonic()
    code = runner(cmd).returncode
    return code == 0, {
        "exit_status": code,
        "seconds": round(time.monotonic() - started, 1),
        "command": shlex.join(cmd),
    }


def _engine_built(engine_dir: Path) -> bool:
    return (engine_dir / "engine" / "manifest.json").is_file()


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


def run(
    cfg: GpuCheckConfig,
    *,
    machine: preflight.Machine | None = None,
    runner=subprocess.run,
    start=start_server,
    checks=None,
) -> int:
    """The whole check; returns the exit status. Raises Refused before doing anything on a machine
    that cannot run it. `runner`, `start` and `checks` are replaced in tests."""
    machine = require_machine(cfg, machine)
    # Imported here: acceptance needs the client side (tritonclient, locust), which the other GPU
    # commands do not, and a refusal must not depend on it.
    from acceptance import engine_metrics, report, suite
    from acceptance.result import CheckResult
    from acceptance.target import Target

    checks = checks or suite.run_all
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    results: list[CheckResult] = []
    target = Target(cfg.host, cfg.http_port, cfg.grpc_port, cfg.metrics_port)
    engine = "not started"

    def step(name: str, passed: bool, details: str, figures: dict | None = None) -> bool:
        results.append(CheckResult(name, passed, details, figures or {}))
        return passed

    cmds = cfg.commands()
    if cfg.reuse_engine and _engine_built(cfg.engine_dir):
        ok = step("engine build", True, f"reused the engine in {cfg.engine_dir} (--reuse-engine)")
    else:
        ok, figures = _step("engine build", cmds["engine"], runner)
        step("engine build", ok, f"`engine` exited with status {figures['exit_status']}", figures)
    if ok:
        ok, figures = _step("model repository", cmds["gpu-repo"], runner)
        step("model repository", ok, f"`gpu-repo` exited with status {figures['exit_status']}", figures)
    if ok:
        print(
            f"[gpu-check] starting Triton: {shlex.join(cmds['launch'])} (log: {out / 'tritonserver.log'})",
            flush=True,
        )
        server = start(cfg, out / "tritonserver.log")
        try:
            ready, details = wait_ready(cfg, server)
            if step("Triton start", ready, f"{details}; log {out / 'tritonserver.log'}"):
                engine = engine_metrics.engine_kind(target)
                results += checks(target, out, cfg.load_seconds, cfg.load_users)
        finally:
            stopped, details = stop_server(server)
            step("Triton stop", stopped, details)
    context = {
        "checkpoint": str(cfg.checkpoint),
        "precision": cfg.precision,
        "tp": cfg.tp,
        "pp": cfg.pp,
        "engine_dir": str(cfg.engine_dir),
        "repository": str(cfg.repo),
        "http": target.http_url,
        "grpc": target.grpc_url,
        "metrics": target.metrics_url,
        "python": sys.executable,
        "tensorrt_llm": machine.trtllm_version or "unknown",
        "ngc_release": machine.ngc_release,
    }
    gpus = tuple(report.GpuFact(g.index, g.name, g.sm) for g in machine.gpus)
    done = report.Report(f"gpu-check {cfg.name}", results, gpus, engine, context)
    json_path, md_path = report.write(done, out)
    print(f"[gpu-check] {'PASSED' if done.passed else 'FAILED'}: {md_path} and {json_path.name}", flush=True)
    return EXIT_PASSED if done.passed else EXIT_FAILED


def cmd_gpu_check(args) -> int:
    try:
        cfg = GpuCheckConfig(
            checkpoint=args.checkpoint,
            precision=args.precision,
            tp=args.tp,
            pp=args.pp,
            engine_dir=args.engine_dir,
            repo=args.repo,
            results=args.results,
            name=args.name,
            host=args.host,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            metrics_port=args.metrics_port,
            reuse_engine=args.reuse_engine,
            engine_args=shlex.split(args.engine_args),
            gpu_repo_args=shlex.split(args.gpu_repo_args),
            load_seconds=args.load_seconds,
            load_users=args.load_users,
        )
        code = run(cfg)
    except (Refused, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_REFUSED
    if code:
        raise SystemExit(code)  # build_engines/__main__.py does not pass a handler's return value on
    return code


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gpu-check",
        help="build, assemble, serve and accept a GPU deployment; report in results/gpu-check/",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="HF checkpoint directory")
    p.add_argument("--precision", choices=recipes.PRECISIONS, default="fp16")
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--pp", type=int, default=1)
    p.add_argument(
        "--engine-dir", type=Path, default=None, help="default: build/engines/<precision>-tp<tp>-pp<pp>"
    )
    p.add_argument("--repo", type=Path, default=ROOT / "build" / "gpu_model_repository")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--name", default=None, help="the run's directory name (default: time-precision-layout)")
    p.add_argument("--host", default="127.0.0.1", help="where the checks reach the server")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument(
        "--reuse-engine", action="store_true", help="skip the build when --engine-dir holds an engine"
    )
    p.add_argument("--engine-args", default="", help="further `engine` options, one string")
    p.add_argument("--gpu-repo-args", default="", help="further `gpu-repo` options, one string")
    p.add_argument("--load-seconds", type=float, default=20.0)
    p.add_argument("--load-users", type=int, default=4)
    p.set_defaults(func=cmd_gpu_check)
