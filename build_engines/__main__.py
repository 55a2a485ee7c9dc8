"""`python -m build_engines COMMAND`: checkpoint → ONNX / TensorRT-LLM engines → model repository.

CPU commands (run here; build_engines/onnx/): checkpoint, export, assemble.
GPU commands (TensorRT-LLM 1.2.x, dry-run here; build_engines/trtllm/): plan, engine, gpu-repo, launch.
emulate-gpu-repo: the gpu-repo output with its engine backend emulated on the CPU (trtllm/emulated.py).
gpu-repo / emulate-gpu-repo --gpu-engine pytorch, quantize-gpu: the PyTorch-backend (LLM API) path (llmapi/).
capacity: predicted throughput, latency, GPUs and cost of a deployment (capacity/, docs/CAPACITY.md).
"""

from __future__ import annotations

import argparse
import sys

from . import checkpoint
from .capacity import cli as capacity_cli
from .llmapi import cli as llmapi_cli
from .lora import cli as lora_cli
from .onnx import cli as onnx_cli
from .onnx import quality
from .trtllm import cli as trtllm_cli
from .trtllm import emulated


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m build_engines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    onnx_cli.register(sub)
    trtllm_cli.register(sub)
    emulated.register(sub)
    capacity_cli.register(sub)
    llmapi_cli.register(sub)
    lora_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if llmapi_cli.wants_pytorch(argv):  # the PyTorch path takes other inputs (a checkpoint, no engine)
        return llmapi_cli.run_pytorch(argv)
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except (checkpoint.CheckpointError, quality.QualityError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # GPU commands return their exit status (a launcher's, a failed check's); CPU ones return nothing.
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
