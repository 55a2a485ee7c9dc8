"""OpenVINO GenAI's continuous-batching pipeline as a benchmark peer, in the peers' own
environment (environment.py), never the project's.

The checkpoint is exported once per weight precision with optimum-intel (`--weight-format fp32`
or `int8`, OpenVINO's own stateful LLM format). The pipeline runs in process, without a server,
under the same closed loop as our 16-stream row (ov_pipeline.py), once with f32 inference
precision and once with OpenVINO's default for this CPU (BF16 compute where the CPU has it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from build_engines.openvino.export import optimum_export_command

from ..stats import Sample
from . import environment

WEIGHTS = {"fp32": "fp32", "int8": "int8"}  # our variant → optimum-intel's --weight-format
COMPUTE = {"f32": {"INFERENCE_PRECISION_HINT": "f32"}, "default": {}}  # row suffix → pipeline properties
PIPELINE = Path(__file__).with_name("ov_pipeline.py")


def export(work: Path, checkpoint_dir: Path, precision: str) -> Path:
    """The checkpoint in OpenVINO's format with `precision`'s weights (and its tokenizer models)."""
    python = environment.python(work)
    out = work / "openvino" / f"{checkpoint_dir.name}-{WEIGHTS[precision]}"
    if not (out / "openvino_model.xml").is_file():
        partial = out.with_name(out.name + ".partial")
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        subprocess.run(
            optimum_export_command(python, checkpoint_dir, WEIGHTS[precision], partial),
            check=True,
            env=env,
        )
        partial.rename(out)
    return out


def streams(
    work: Path, model_dir: Path, prompt_ids: list[list[int]], max_tokens: int, concurrency: int, compute: str
) -> tuple[list[Sample], float]:
    """The closed loop in the OpenVINO environment; (samples, wall seconds) as bench.runners return."""
    job = {
        "model_dir": str(model_dir),
        "properties": COMPUTE[compute],
        "prompt_ids": prompt_ids,
        "max_tokens": max_tokens,
        "concurrency": concurrency,
    }
    result = subprocess.run(
        [str(environment.python(work)), str(PIPELINE)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"OpenVINO GenAI run failed:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return [Sample(s["ttft_s"], s["e2e_s"], s["tokens"]) for s in report["samples"]], report["wall_s"]
