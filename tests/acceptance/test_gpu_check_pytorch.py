"""`make gpu-check GPU_ENGINE=pytorch`: the same check and report, with no engine build: the repository is
assembled by `gpu-repo --gpu-engine pytorch` from the checkpoint. Nothing here can run the LLM API, so
the orchestration runs with its commands, server and checks replaced (test_gpu_check.py's fakes)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from test_gpu_check import report_of, world  # noqa: F401 (world is a fixture)

from acceptance.gpu_check import run as gpu_check
from acceptance.gpu_check.config import GpuCheckConfig

ROOT = Path(__file__).resolve().parents[2]


def as_pytorch(cfg: GpuCheckConfig, **changes) -> GpuCheckConfig:
    return dataclasses.replace(cfg, gpu_engine="pytorch", **changes)


def test_no_engine_step_and_gpu_repo_reads_the_checkpoint(world):  # noqa: F811
    cfg, calls, fakes = world
    cfg = as_pytorch(cfg)
    assert gpu_check.run(cfg, **fakes) == gpu_check.EXIT_PASSED
    assert [cmd[3] for cmd in calls["commands"]] == ["gpu-repo"]
    argv = calls["commands"][0][3:]
    assert argv[:3] == ["gpu-repo", "--gpu-engine", "pytorch"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    # Served on this machine: the repository where it is built, the checkpoint where it is.
    assert pairs["--checkpoint"] == str(cfg.checkpoint)
    assert pairs["--repo-mount-path"] == str(cfg.repo.resolve())
    assert pairs["--checkpoint-path"] == str(cfg.checkpoint.resolve())
    assert argv[-2:] == ["--max-queue-size", "64"]  # GPU_REPO_ARGS still reach gpu-repo
    data = report_of(cfg)
    assert [r["name"] for r in data["results"]] == [
        "model repository",
        "Triton start",
        "streaming equality",
        "Triton stop",
    ]
    assert data["context"]["gpu_engine"] == "pytorch"


def test_a_bundled_checkpoint_is_not_also_named_elsewhere(world):  # noqa: F811
    cfg, calls, fakes = world
    cfg = as_pytorch(cfg, gpu_repo_args=["--bundle-checkpoint"])
    assert gpu_check.run(cfg, **fakes) == gpu_check.EXIT_PASSED
    argv = calls["commands"][0]
    assert "--bundle-checkpoint" in argv and "--checkpoint-path" not in argv


def test_a_failed_assembly_is_reported_and_nothing_is_started(world):  # noqa: F811
    cfg, calls, fakes = world
    calls["fail"].add("gpu-repo")
    assert gpu_check.run(as_pytorch(cfg), **fakes) == gpu_check.EXIT_FAILED
    assert calls["servers"] == []


def test_the_pytorch_path_refuses_what_its_backend_does_not_load(tmp_path):
    with pytest.raises(ValueError, match="INT8 SmoothQuant"):
        GpuCheckConfig(checkpoint=tmp_path, precision="int8_sq", gpu_engine="pytorch")
    with pytest.raises(ValueError, match="gpu_engine must be one of trt, pytorch"):
        GpuCheckConfig(checkpoint=tmp_path, gpu_engine="vllm")
    GpuCheckConfig(checkpoint=tmp_path, precision="nvfp4", gpu_engine="pytorch")  # a checkpoint format


def test_make_passes_gpu_engine_through():
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "-C",
            str(ROOT),
            "gpu-check",
            "CHECKPOINT=/ckpt",
            "GPU_ENGINE=pytorch",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    command = " ".join(result.stdout.replace("\\\n", " ").split())
    assert "-m acceptance gpu-check --checkpoint /ckpt --precision fp16" in command
    assert "--gpu-engine pytorch" in command


def test_the_subcommand_takes_the_switch_and_refuses_here(tmp_path):
    # On this machine (no GPU) the real subcommand refuses before anything: the switch parses.
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "acceptance",
            "gpu-check",
            "--checkpoint",
            str(tmp_path),
            "--gpu-engine",
            "pytorch",
            "--precision",
            "fp8",
            "--results",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == gpu_check.EXIT_REFUSED, result.stderr
    assert result.stderr.startswith("error: ") and not (tmp_path / "results").exists()
