"""The Makefile's GPU targets, read through `make -n` (prints the commands, runs none of them)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_dry(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def build_engines_command(stdout: str) -> list[str]:
    """The one `python -m build_engines ...` command of a GPU target (line continuations joined)."""
    joined = stdout.replace("\\\n", " ")
    lines = [line for line in joined.splitlines() if "-m build_engines " in line]
    assert len(lines) == 1, stdout
    return shlex.split(lines[0])


def test_gpu_repo_passes_precision_and_extra_options():
    result = make_dry(
        "gpu-repo",
        "PRECISION=int8_kv",
        "CHECKPOINT=/ckpt",
        "DRY_RUN=1",
        "GPU_REPO_ARGS=--enable-kv-cache-reuse false --max-queue-size 64",
    )
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("gpu-repo") :] == [
        "gpu-repo",
        "--engine-dir",
        "build/engines/int8_kv-tp1-pp1",
        "--tokenizer-dir",
        "/ckpt",
        "--output",
        "build/gpu_model_repository",
        "--precision",
        "int8_kv",
        "--tp",
        "1",
        "--pp",
        "1",
        "--dry-run",
        "--enable-kv-cache-reuse",
        "false",
        "--max-queue-size",
        "64",
    ]


def test_engines_passes_extra_options():
    result = make_dry(
        "engines", "PRECISION=int8_kv", "CHECKPOINT=/ckpt", "DRY_RUN=1", "ENGINE_ARGS=--max-seq-len 8192"
    )
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("engine") :] == [
        "engine",
        "--precision",
        "int8_kv",
        "--checkpoint",
        "/ckpt",
        "--output",
        "build/engines/int8_kv-tp1-pp1",
        "--tp",
        "1",
        "--pp",
        "1",
        "--gather-logits",
        "none",
        "--dry-run",
        "--max-seq-len",
        "8192",
    ]


def test_engines_passes_gather_logits():
    result = make_dry("engines", "CHECKPOINT=/ckpt", "DRY_RUN=1", "GATHER_LOGITS=all")
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("--gather-logits") + 1] == "all"


def test_engines_gather_logits_reach_trtllm_build():
    # The dry run itself, not only the command line make prints: the engine command turns the
    # variable into trtllm-build's flags (and an unknown value is refused by argparse, exit 2).
    env = {**os.environ, "GPU_PYTHON": sys.executable}
    run = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "engines",
            "CHECKPOINT=/ckpt",
            "DRY_RUN=1",
            "GATHER_LOGITS=context",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    build = [line for line in run.stdout.splitlines() if line.startswith("trtllm-build ")]
    assert len(build) == 1 and shlex.split(build[0])[-1] == "--gather_context_logits"
    assert "--gather_generation_logits" not in build[0]
    bad = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "engines",
            "CHECKPOINT=/ckpt",
            "DRY_RUN=1",
            "GATHER_LOGITS=some",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode != 0 and "--gather-logits: invalid choice: 'some'" in bad.stderr


# The GPU targets' Python (build_engines/trtllm/interpreter.py). On this machine no Python has
# tensorrt_llm; the NGC image is imitated by a missing .venv and a python3 that finds a package named
# tensorrt_llm (see test_interpreter.py for why that is what the probe checks).


def test_dry_run_here_uses_the_venv():
    result = make_dry("engines", "CHECKPOINT=/ckpt", "DRY_RUN=1")
    assert result.returncode == 0, result.stderr
    assert build_engines_command(result.stdout)[:3] == [".venv/bin/python", "-m", "build_engines"]


def test_inside_the_ngc_image_the_system_python_builds_and_no_venv_is_made(tmp_path):
    package = tmp_path / "site" / "tensorrt_llm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = make_dry("engines", "CHECKPOINT=/ckpt", f"VENV={tmp_path / 'no-venv'}", env=env)
    assert result.returncode == 0, result.stderr
    assert build_engines_command(result.stdout)[:4] == ["python3", "-m", "build_engines", "engine"]
    assert "venv" not in result.stdout


def test_a_real_build_without_tensorrt_llm_stops_before_running_anything():
    result = make_dry("engines", "CHECKPOINT=/ckpt")
    assert result.returncode == 2
    assert "-m build_engines" not in result.stdout
    assert "error: no Python here can import tensorrt_llm (tried .venv/bin/python, python3)" in result.stderr
    assert "*** no Python for the GPU targets, see above.  Stop." in result.stderr


def test_gpu_python_chooses_explicitly():
    result = make_dry("gpu-repo", "CHECKPOINT=/ckpt", "DRY_RUN=1", f"GPU_PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert build_engines_command(result.stdout)[0] == sys.executable
