"""Our OpenVINO engine variants (PRECISION=ov-fp32, ov-bf16; docs/OPENVINO.md) through the Triton
ensemble, on the 16-stream row's workload: its prompts, output length and 16 closed-loop gRPC clients
(runners.triton_streams), so each row compares with the OpenVINO GenAI pipeline run in process on the
same prompts (bench/peers), with llama.cpp's and vLLM's servers and with the ONNX engine's 16-stream
row. The engine model is the CPU repository's with engine_kind openvino, under `make bench`'s engine
settings (max_seq_len 1024, max_num_seqs 16, as processes.cpu_server).
"""

from __future__ import annotations

from pathlib import Path

from build_engines.openvino import quality
from build_engines.openvino.repository import assemble_openvino
from server.tritonserver import ServerOptions, TritonServer

from . import runners, workload
from .stats import row

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("ov-fp32", "ov-bf16", "ov-int8")
# The weights each variant runs: the OpenVINO GenAI peer's rows on the same weights are its
# counterparts (ov-bf16 is the FP32 export computed in BF16).
WEIGHTS = {"ov-fp32": "fp32", "ov-bf16": "fp32", "ov-int8": "int8"}


def server(
    name: str, checkpoint_dir: Path, variant: str, ports: tuple[int, int, int], stream_interval: int | str
) -> TritonServer:
    """A tritonserver (not started: `with` starts it) on the repository build/<name> over the verified
    variant (built and gated first when missing, as `make serve PRECISION=<variant>` does)."""
    model_dir = quality.verified(
        checkpoint_dir, ROOT / "artifacts" / "exports" / checkpoint_dir.name, variant
    )
    repo = assemble_openvino(
        ROOT / "build" / name,
        checkpoint_dir,
        model_dir,
        max_seq_len=1024,
        max_num_seqs=16,
        stream_interval=stream_interval,
    )
    return TritonServer(
        ServerOptions(repo, *ports, exit_timeout_s=5), log_path=ROOT / "build" / f"{name}.log"
    )


def triton_row(
    checkpoint_dir: Path, variant: str, p: dict, ports: tuple[int, int, int], stream_interval: int | str
) -> dict:
    """The variant's 16-stream row through the ensemble (engine triton_ensemble, precision the
    variant's name)."""
    with server(f"bench-{variant}", checkpoint_dir, variant, ports, stream_interval) as running:
        samples, wall = runners.triton_streams(
            running.options.grpc_url, workload.prompts(p["streams"][16]), p["max_tokens"], 16
        )
    return row("triton_ensemble", variant, 16, samples, wall)
