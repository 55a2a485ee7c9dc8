"""The PyTorch path's commands for `python -m build_engines`: gpu-repo and emulate-gpu-repo with
`--gpu-engine pytorch`, and quantize-gpu.

`--gpu-engine` is read before the subcommand's parser (arguments.selected_engine): with trt (the
default) the engine path's parser and handler run unchanged; with pytorch this module's. Refusals
print `error: ...` and exit 2, as the engine path's commands do.
"""

from __future__ import annotations

import sys

from ..checkpoint import CheckpointError
from ..onnx.quality import QualityError
from . import arguments, emulated, gpu_repo, quantize

SWITCHED = ("gpu-repo", "emulate-gpu-repo")  # the subcommands --gpu-engine picks a path for


def wants_pytorch(argv: list[str]) -> bool:
    return bool(argv) and argv[0] in SWITCHED and arguments.selected_engine(argv[1:]) == "pytorch"


def run_pytorch(argv: list[str]) -> int:
    """`gpu-repo` / `emulate-gpu-repo` with --gpu-engine pytorch; the exit status."""
    try:
        if argv[0] == "gpu-repo":
            return gpu_repo.cmd_gpu_repo(argv)
        return emulated.main(argv)
    except (CheckpointError, QualityError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def register(subparsers) -> None:
    """--gpu-engine on the engine path's gpu-repo and emulate-gpu-repo (so `--gpu-engine trt` parses and
    --help shows the switch), and the quantize-gpu command."""
    for name in SWITCHED:
        arguments.add_engine_switch(subparsers.choices[name])
    quantize.register(subparsers)
