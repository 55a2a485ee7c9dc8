"""`make gpu-check`: the refusal on a machine without a GPU (this one), and the orchestration with
its commands, server and checks replaced (nothing here can build an engine or start tensorrtllm).

The refusal must come at once, before anything is built, started or written, and name everything
missing in one message; after the preflight a report is always written, whatever failed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acceptance.gpu_check import preflight
from acceptance.gpu_check import run as gpu_check
from acceptance.gpu_check.config import GpuCheckConfig
from acceptance.gpu_check.machine import Refused
from acceptance.result import CheckResult
from build_engines.trtllm import launcher
from build_engines.trtllm.environment import Gpu

ROOT = Path(__file__).resolve().parents[2]


# -- the refusal, end to end ----------------------------------------------------------------------------
def test_make_gpu_check_here_refuses_at_once_naming_what_is_missing():
    started = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "gpu-check", "CHECKPOINT=/some/dir"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0 and elapsed < 30, (elapsed, result.stderr)
    assert "error: cannot run gpu-check on this machine: " in result.stderr
    # What this machine lacks, each named (the machine this suite runs on has no GPU and no TensorRT-LLM).
    if shutil.which("nvidia-smi") is None:
        assert "no nvidia-smi on PATH" in result.stderr
    assert "no tensorrt_llm importable (tried .venv/bin/python, python3)" in result.stderr
    if not os.environ.get(preflight.NGC_ENV):
        assert (
            "not in the NGC image nvcr.io/nvidia/tritonserver:26.04-trtllm-python-py3 "
            "(NVIDIA_TRITON_SERVER_VERSION is unset)" in result.stderr
        )
    assert "CHECKPOINT /some/dir is not a directory" in result.stderr
    assert "Nothing was built or started." in result.stderr
    assert "-m acceptance gpu-check" not in result.stderr  # the orchestration never ran


def test_the_subcommand_refuses_the_same_way_in_its_own_interpreter(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "acceptance",
            "gpu-check",
            "--checkpoint",
            "/some/dir",
            "--results",
            str(tmp_path / "results"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: cannot run gpu-check on this machine: ")
    assert f"no tensorrt_llm importable (tried {sys.executable})" in result.stderr
    assert not (tmp_path / "results").exists()  # refused before any report


# -- the refusal logic ----------------------------------------------------------------------------------
def machine(**overrides) -> preflight.Machine:
    """A machine that has everything gpu-check needs; each test takes one thing away."""
    fields = dict(
        nvidia_smi="/usr/bin/nvidia-smi",
        gpus=(Gpu(0, "NVIDIA H100 80GB HBM3", 90),),
        trtllm_python="python3",
        trtllm_version="1.2.1",
        ngc_release="26.04",
        tools={"tritonserver": "/opt/tritonserver/bin/tritonserver", "mpirun": "/usr/local/mpi/bin/mpirun"},
        tried=("python3",),
    )
    fields.update(overrides)
    return preflight.Machine(**fields)


def test_a_complete_machine_is_not_refused(tmp_path):
    assert preflight.missing(machine(), tmp_path) == []


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            {"nvidia_smi": None, "gpus": ()},
            "no nvidia-smi on PATH (no NVIDIA driver, or the container was started without --gpus)",
        ),
        ({"gpus": ()}, "no GPU visible (nvidia-smi lists none)"),
        (
            {"trtllm_python": None, "tried": (".venv/bin/python", "python3")},
            "no tensorrt_llm importable (tried .venv/bin/python, python3)",
        ),
        (
            {"trtllm_version": "1.1.0"},
            "tensorrt_llm 1.1.0 is installed; engines here are built and served with 1.2.x",
        ),
        (
            {"ngc_release": None},
            "not in the NGC image nvcr.io/nvidia/tritonserver:26.04-trtllm-python-py3 "
            "(NVIDIA_TRITON_SERVER_VERSION is unset)",
        ),
        ({"tools": {"tritonserver": None, "mpirun": "/usr/bin/mpirun"}}, "no tritonserver on PATH"),
    ],
)
def test_each_missing_thing_is_named(tmp_path, overrides, problem):
    assert preflight.missing(machine(**overrides), tmp_path) == [problem]


def test_an_unknown_version_is_not_a_refusal(tmp_path):
    # The version is known only when the interpreter with tensorrt_llm is the one checking; the engine
    # build checks it again in that interpreter (engine_build.run).
    assert preflight.missing(machine(trtllm_version=None), tmp_path) == []


def test_everything_missing_is_named_in_one_message():
    bare = preflight.Machine(None, (), None, None, None, {"tritonserver": None, "mpirun": None}, ("python3",))
    problems = preflight.missing(bare, Path("/some/dir"))
    assert len(problems) == 6 and problems[-1] == "CHECKPOINT /some/dir is not a directory"
    message = preflight.refusal(problems)
    assert message.startswith("cannot run gpu-check on this machine: no nvidia-smi on PATH")
    assert (
        "; no tritonserver on PATH; no mpirun on PATH; " in message
        and "Nothing was built or started." in message
    )


def test_probe_finds_the_interpreter_with_tensorrt_llm_and_nothing_else_here(tmp_path, monkeypatch):
    site = tmp_path / "site" / "tensorrt_llm"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))  # what interpreter.py's probe looks for
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no nvidia-smi, tritonserver, mpirun
    monkeypatch.delenv(preflight.NGC_ENV, raising=False)
    found = preflight.probe([str(tmp_path / "no-venv" / "python"), sys.executable])
    assert found.trtllm_python == sys.executable and found.nvidia_smi is None and found.gpus == ()
    assert found.tools == {"tritonserver": None, "mpirun": None} and found.ngc_release is None


# -- the orchestration, with fakes ------------------------------------------------------------------------
class FakeServer:
    """The launcher process: running until SIGTERM."""

    def __init__(self):
        self.returncode, self.signals = None, []

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        self.signals.append(sig)
        self.returncode = 0

    def wait(self, timeout=None):
        return self.returncode


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture
def world(tmp_path, monkeypatch):
    """Fakes for everything gpu_check.run touches outside itself; records what it was asked to do."""
    calls = {"commands": [], "servers": [], "checks": 0, "fail": set()}

    def runner(cmd):
        calls["commands"].append(cmd)
        return subprocess.CompletedProcess(cmd, 1 if cmd[3] in calls["fail"] else 0)

    def start(cfg, log_path):
        calls["servers"].append(FakeServer())
        return calls["servers"][-1]

    def checks(target, out, load_seconds, load_users):
        calls["checks"] += 1
        return [CheckResult("streaming equality", True, "equal", {"comparisons": 9})]

    monkeypatch.setattr(launcher, "server_ready", lambda host, port: True)
    monkeypatch.setattr("acceptance.engine_metrics.engine_kind", lambda target: "TensorRT-LLM (fake)")
    checkpoint = tmp_path / "llama"
    checkpoint.mkdir()
    http, grpc, metrics = free_ports(3)  # not 8000-8002: `make serve` may be running on this machine
    cfg = GpuCheckConfig(
        checkpoint=checkpoint,
        engine_dir=tmp_path / "engine",
        repo=tmp_path / "repo",
        results=tmp_path / "results",
        name="run",
        gpu_repo_args=["--max-queue-size", "64"],
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
    )
    return cfg, calls, {"machine": machine(), "runner": runner, "start": start, "checks": checks}


def report_of(cfg) -> dict:
    assert (cfg.out_dir / "report.md").is_file()
    return json.loads((cfg.out_dir / "report.json").read_text())


def test_a_machine_missing_something_is_refused_before_any_step(world):
    cfg, calls, fakes = world
    with pytest.raises(Refused, match="no GPU visible"):
        gpu_check.run(cfg, **{**fakes, "machine": machine(gpus=())})
    assert calls["commands"] == [] and calls["servers"] == [] and not cfg.results.exists()


def test_every_step_runs_in_order_and_the_report_holds_steps_and_checks(world):
    cfg, calls, fakes = world
    assert gpu_check.run(cfg, **fakes) == gpu_check.EXIT_PASSED
    assert [cmd[3] for cmd in calls["commands"]] == ["engine", "gpu-repo"]
    assert calls["commands"][1][-2:] == ["--max-queue-size", "64"]  # GPU_REPO_ARGS reach gpu-repo
    assert calls["checks"] == 1 and calls["servers"][0].signals  # Triton was stopped after the checks
    data = report_of(cfg)
    assert [r["name"] for r in data["results"]] == [
        "engine build",
        "model repository",
        "Triton start",
        "streaming equality",
        "Triton stop",
    ]
    assert data["passed"] and data["engine"] == "TensorRT-LLM (fake)"
    assert data["machine"]["ran_on"] == "GPU: NVIDIA H100 80GB HBM3 (SM 90)"  # the (fake) machine's own GPU
    assert data["context"]["precision"] == "fp16" and data["context"]["tensorrt_llm"] == "1.2.1"


def test_a_failed_build_stops_there_and_is_reported(world):
    cfg, calls, fakes = world
    calls["fail"].add("engine")
    assert gpu_check.run(cfg, **fakes) == gpu_check.EXIT_FAILED
    assert [cmd[3] for cmd in calls["commands"]] == ["engine"] and calls["servers"] == []
    data = report_of(cfg)
    assert not data["passed"]
    assert data["results"] == [
        {
            "name": "engine build",
            "passed": False,
            "details": "`engine` exited with status 1",
            "figures": data["results"][0]["figures"],
        }
    ]


def test_reuse_engine_skips_a_built_engine(world):
    cfg, calls, fakes = world
    cfg.reuse_engine = True
    (cfg.engine_dir / "engine").mkdir(parents=True)
    (cfg.engine_dir / "engine" / "manifest.json").write_text("{}")
    assert gpu_check.run(cfg, **fakes) == gpu_check.EXIT_PASSED
    assert [cmd[3] for cmd in calls["commands"]] == ["gpu-repo"]


def test_a_server_that_never_gets_ready_fails_without_running_the_checks(world, monkeypatch):
    cfg, calls, fakes = world

    def start(cfg, log_path):
        server = FakeServer()
        server.returncode = 1  # the launcher gave up (e.g. a port in use)
        calls["servers"].append(server)
        return server

    assert gpu_check.run(cfg, **{**fakes, "start": start}) == gpu_check.EXIT_FAILED
    assert calls["checks"] == 0
    results = {r["name"]: r for r in report_of(cfg)["results"]}
    assert results["Triton start"]["details"].startswith(
        "the launcher exited with status 1 before the server was ready"
    )
    assert not results["Triton stop"]["passed"]


def test_make_passes_the_gpu_variables_through():
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "-C",
            str(ROOT),
            "gpu-check",
            "CHECKPOINT=/ckpt",
            "PRECISION=int8_kv",
            "TP=2",
            "REUSE_ENGINE=1",
            "ENGINE_ARGS=--max-seq-len 8192",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    command = result.stdout.replace("\\\n", " ")
    assert "-m acceptance.gpu_check.preflight --checkpoint /ckpt .venv/bin/python python3" in command
    for part in (
        "-m acceptance gpu-check --checkpoint /ckpt --precision int8_kv --tp 2 --pp 1",
        "--engine-dir build/engines/int8_kv-tp2-pp1",
        "--reuse-engine",
        "--engine-args '--max-seq-len 8192'",
    ):
        assert part in " ".join(command.split()), part


def test_the_checks_client_side_is_required_too(world, monkeypatch):
    cfg, calls, fakes = world
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "locust" else real(name))
    with pytest.raises(Refused, match=r"no locust importable by .* \(pip install locust==2.47.0\)"):
        gpu_check.run(cfg, **fakes)
    assert calls["commands"] == []


def test_a_port_already_taken_is_refused_before_the_build(world):
    cfg, calls, fakes = world
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        cfg.http_port = listening.getsockname()[1]
        with pytest.raises(Refused, match=f"port {cfg.http_port} \\(--http-port\\) already in use"):
            gpu_check.run(cfg, **fakes)
    assert calls["commands"] == []
