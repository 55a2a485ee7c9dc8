"""NVIDIA AIConfigurator as the predictor where it covers the model and GPU, in its own environment.

aiconfigurator 0.12.0 (PyPI) predicts TensorRT-LLM's TTFT and TPOT per configuration from kernel timings
measured on each GPU, shipped in its wheel (no GPU, no network needed). Its pins (numpy 2, pandas 3,
pydantic 2) are not ours, so it lives in a separate virtualenv named by AICONFIGURATOR_PYTHON:

    python3 -m venv ~/.venvs/aic && ~/.venvs/aic/bin/pip install aiconfigurator==0.12.0
    export AICONFIGURATOR_PYTHON=~/.venvs/aic/bin/python

Without it, or where it fails for a model, GPU or precision, the roofline (roofline.py) answers and the
report says which method produced the figures and why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .roofline import Layout, Point, Workload

ENV = "AICONFIGURATOR_PYTHON"
DRIVER = Path(__file__).with_name("aic_driver.py")
TIMEOUT_S = 900
SYSTEMS = {"H100": "h100_sxm", "H200": "h200_sxm", "B200": "b200_sxm", "L40S": "l40s", "A100": "a100_sxm"}
# Our precision -> AIConfigurator's (gemm, kv cache, fmha) quant modes.
QUANT_MODES = {
    "fp16": ("bfloat16", "bfloat16", "bfloat16"),  # AIConfigurator measures 16-bit GEMMs as bfloat16
    "bf16": ("bfloat16", "bfloat16", "bfloat16"),
    "int8_wo": ("int8_wo", "bfloat16", "bfloat16"),
    "int8_sq": ("sq", "bfloat16", "bfloat16"),
    "int8_kv": ("bfloat16", "int8", "bfloat16"),
    "fp8": ("fp8", "fp8", "fp8"),
    "int4_awq": ("int4_wo", "bfloat16", "bfloat16"),
    "nvfp4": ("nvfp4", "fp8", "fp8"),
}
CTX_TOKENS = 8192  # prompt tokens an iteration may carry: TensorRT-LLM's default max_num_tokens


@dataclass(frozen=True)
class AicResult:
    points: list[Point]
    version: str  # the TensorRT-LLM version whose measurements AIConfigurator used


def interpreter() -> str | None:
    path = os.environ.get(ENV, "").strip()
    return path or None


def predict(
    *, config: Path, gpu_key: str, layout: Layout, work: Workload, concurrencies: list[int]
) -> AicResult:
    """The curve from AIConfigurator; raises RuntimeError (with its message) when it cannot answer."""
    python = interpreter()
    if python is None:
        raise RuntimeError(f"{ENV} is not set")
    if gpu_key not in SYSTEMS:
        raise RuntimeError(f"AIConfigurator has no system for {gpu_key}")
    gemm, kv, fmha = QUANT_MODES[layout.precision.name]
    with tempfile.TemporaryDirectory(prefix="aic-model-") as model_dir:
        config = Path(config)
        shutil.copy(config / "config.json" if config.is_dir() else config, Path(model_dir) / "config.json")
        request = {
            "model_path": model_dir,
            "system": SYSTEMS[gpu_key],
            "isl": work.isl,
            "osl": work.osl,
            "tp": layout.tp,
            "pp": layout.pp,
            "gemm": gemm,
            "kv": kv,
            "fmha": fmha,
            "ctx_tokens": CTX_TOKENS,
            "batch_sizes": concurrencies,
        }
        try:
            done = subprocess.run(
                [python, "-W", "ignore", str(DRIVER)],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"AIConfigurator did not run: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"AIConfigurator exited {done.returncode}: {tail[0]}")
    answer = json.loads(done.stdout)
    points = [_point(p, layout, work) for p in answer["points"] if "error" not in p]
    if not points:
        errors = {p.get("error") for p in answer["points"]}
        raise RuntimeError(f"AIConfigurator predicted no point: {'; '.join(sorted(map(str, errors)))}")
    return AicResult(points=points, version=answer.get("version", ""))


def _point(raw: dict, layout: Layout, work: Workload) -> Point:
    ttft = raw["ttft_ms"] / 1000
    tpot = raw["tpot_ms"] / 1000
    concurrency = int(raw["batch_size"])
    per_gpu = raw.get("tokens_s_gpu") or concurrency / tpot / layout.gpus
    out = per_gpu * layout.gpus
    return Point(
        concurrency=concurrency,
        ttft_s=ttft,
        tpot_s=tpot,
        output_tok_s=out,
        output_tok_s_per_gpu=per_gpu,
        requests_s=out / work.osl,
        bound="measured kernels",
    )
