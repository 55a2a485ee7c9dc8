"""The preflight before an engine build (`make engines`, the chart's build Job): the checkpoint's converter
must be in the examples directory, and a build alone asks for no tritonserver, mpirun or serving image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from acceptance.gpu_check import preflight
from build_engines.trtllm.environment import Gpu

ROOT = Path(__file__).resolve().parents[2]


def checkpoint(tmp_path: Path, architecture: str) -> Path:
    path = tmp_path / "ckpt"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"architectures": [architecture]}))
    return path


def examples(tmp_path: Path, *scripts: str) -> Path:
    root = tmp_path / "examples"
    for script in scripts:
        (root / script).parent.mkdir(parents=True, exist_ok=True)
        (root / script).write_text("")
    return root


def test_the_familys_converter_present_is_not_refused(tmp_path):
    ex = examples(tmp_path, "models/core/gemma/convert_checkpoint.py")
    assert preflight.converter_missing(checkpoint(tmp_path, "Gemma2ForCausalLM"), str(ex)) == []


def test_a_missing_converter_is_named_with_the_variable_to_set(tmp_path):
    # Only llama's converter is there; a Qwen2 checkpoint needs qwen's.
    ex = examples(tmp_path, "models/core/llama/convert_checkpoint.py")
    (problem,) = preflight.converter_missing(checkpoint(tmp_path, "Qwen2ForCausalLM"), str(ex))
    assert problem.startswith(f"no {ex}/models/core/qwen/convert_checkpoint.py (the qwen converter for ")
    assert "set TRTLLM_EXAMPLES_DIR" in problem and "/app/examples or /app/tensorrt_llm/examples" in problem


def test_fp8_needs_quantize_py(tmp_path):
    ex = examples(tmp_path, "models/core/llama/convert_checkpoint.py")
    (problem,) = preflight.converter_missing(checkpoint(tmp_path, "LlamaForCausalLM"), str(ex), "fp8")
    assert "quantization/quantize.py" in problem


def test_an_unsupported_architecture_is_named(tmp_path):
    (problem,) = preflight.converter_missing(checkpoint(tmp_path, "FalconForCausalLM"), str(tmp_path))
    assert problem.startswith("architecture FalconForCausalLM is not supported by the GPU path")


def test_an_engine_build_does_not_ask_for_the_serving_tools(tmp_path):
    bare = preflight.Machine(
        nvidia_smi="/usr/bin/nvidia-smi",
        gpus=(Gpu(0, "NVIDIA H100 80GB HBM3", 90),),
        trtllm_python="python3",
        trtllm_version="1.2.1",
        ngc_release=None,
        tools={"tritonserver": None, "mpirun": None},
    )
    assert preflight.missing(bare, tmp_path, serving=False) == []
    assert len(preflight.missing(bare, tmp_path)) == 3  # gpu-check still needs all three


def test_the_command_line_refuses_a_build_naming_the_converter(tmp_path):
    ckpt = checkpoint(tmp_path, "PhiForCausalLM")
    result = subprocess.run(
        [sys.executable, "-m", "acceptance.gpu_check.preflight", "--engines", "--checkpoint", str(ckpt)]
        + ["--examples-dir", str(tmp_path / "none"), sys.executable],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot build engines on this machine: ")
    assert "models/core/phi/convert_checkpoint.py (the phi converter for PhiForCausalLM)" in result.stderr
    assert "tritonserver" not in result.stderr.split("To get them")[0]


def make_dry(*args: str, env: dict) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_engines_runs_the_preflight_except_in_a_dry_run(tmp_path):
    # The NGC image imitated as in test_makefile.py: no .venv, a python3 that finds a tensorrt_llm package.
    package = tmp_path / "site" / "tensorrt_llm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    real = make_dry("engines", "CHECKPOINT=/ckpt", f"VENV={tmp_path / 'no-venv'}", env=env)
    lines = [line for line in real.replace("\\\n", " ").splitlines() if line.strip()]
    assert lines[0].split() == [
        "python3",
        "-m",
        "acceptance.gpu_check.preflight",
        "--engines",
        "--checkpoint",
        "/ckpt",
        "--precision",
        "fp16",
        "python3",
        ">/dev/null",
    ]
    assert "-m build_engines engine" in lines[1]  # the build comes after it
    dry = make_dry("engines", "CHECKPOINT=/ckpt", "DRY_RUN=1", f"VENV={tmp_path / 'no-venv'}", env=env)
    assert "preflight" not in dry
