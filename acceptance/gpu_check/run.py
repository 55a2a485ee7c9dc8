"""One gpu-check run: build, assemble, launch, check, stop, and the report, whatever failed.

The steps run in order and each one's result goes in the report; a step that fails skips the ones
that need it, and the server is stopped whatever happened after it started.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from .. import engine_metrics, report
from ..result import CheckResult
from ..target import Target
from . import preflight
from .config import GpuCheckConfig
from .machine import require_machine
from .server import start_server, stop_server, wait_ready

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


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
    # Imported here, after the refusal: the checks need the client side (tritonclient, locust), and
    # a refusal must not depend on it.
    from .. import suite

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
    if "engine" not in cmds:
        ok = True  # the PyTorch path: nothing to build, gpu-repo reads the checkpoint
    elif cfg.reuse_engine and _engine_built(cfg.engine_dir):
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
        "gpu_engine": cfg.gpu_engine,
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
