"""What `make gpu-check` needs on this machine, found before anything is built or started.

A GPU check that fails an hour into an engine build, or after Triton half-started, wastes the
person's time; one that refuses at once and names *everything* missing lets them fix it in one go.
It needs: nvidia-smi, a GPU it lists, a Python that imports tensorrt_llm 1.2.x, the NGC Triton
image, `tritonserver` and `mpirun`, the checkpoint directory, an architecture the GPU path converts
and its converter script in the TensorRT-LLM examples directory. With `--engines` (what `make
engines` and the chart's build Job run) only what an engine build needs: the GPU, tensorrt_llm, the
checkpoint and its converter.

`python3 -m acceptance.gpu_check.preflight [--checkpoint DIR] CANDIDATE...` prints the first
candidate interpreter that has tensorrt_llm when nothing is missing; otherwise it prints one
`error:` line naming what is and exits 2. Standard library only (like
build_engines/trtllm/interpreter.py): the Makefile runs it with the system python3 before any
environment is chosen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from build_engines.trtllm import environment, families, interpreter, pins, recipes

# Every NGC Triton image sets it to its release, e.g. "26.04": triton-inference-server/server
# build.py, dockerfile_prepare_container_linux (commit 35dc045fc7780765695102e9a9d6e379267dcb92):
# `ENV NVIDIA_TRITON_SERVER_VERSION ${TRITON_CONTAINER_VERSION}`.
NGC_ENV = "NVIDIA_TRITON_SERVER_VERSION"
TOOLS = ("tritonserver", "mpirun")  # what `launch` runs (build_engines/trtllm/launcher.py)


@dataclass(frozen=True)
class Machine:
    """What was found; `missing()` judges it."""

    nvidia_smi: str | None  # its path
    gpus: tuple[environment.Gpu, ...]
    trtllm_python: str | None  # the first candidate interpreter that can import tensorrt_llm
    trtllm_version: str | None  # known when that interpreter is this one; None when not checked
    ngc_release: str | None  # NVIDIA_TRITON_SERVER_VERSION
    tools: dict[str, str | None] = field(default_factory=dict)  # name → path, None when absent
    tried: tuple[str, ...] = ()  # the candidate interpreters


def _same_interpreter(python: str) -> bool:
    found = shutil.which(python)
    return found is not None and os.path.realpath(found) == os.path.realpath(sys.executable)


def probe(candidates: list[str]) -> Machine:
    """Look at this machine (PATH, nvidia-smi, the environment) and the candidate interpreters."""
    found = environment.detect()  # this interpreter's tensorrt_llm version, and the GPUs
    trtllm_python = next((py for py in candidates if interpreter.has_tensorrt_llm(py)), None)
    version = found.trtllm_version if trtllm_python and _same_interpreter(trtllm_python) else None
    return Machine(
        nvidia_smi=shutil.which("nvidia-smi"),
        gpus=found.gpus,
        trtllm_python=trtllm_python,
        trtllm_version=version,
        ngc_release=os.environ.get(NGC_ENV) or None,
        tools={tool: shutil.which(tool) for tool in TOOLS},
        tried=tuple(candidates),
    )


def missing(machine: Machine, checkpoint: Path | None = None, *, serving: bool = True) -> list[str]:
    """Everything gpu-check needs and this machine lacks, one phrase each; [] when ready. Without
    `serving` (an engine build alone) the NGC image, tritonserver and mpirun are not asked for."""
    problems = []
    if machine.nvidia_smi is None:
        problems.append(
            "no nvidia-smi on PATH (no NVIDIA driver, or the container was started without --gpus)"
        )
    elif not machine.gpus:
        problems.append("no GPU visible (nvidia-smi lists none)")
    if machine.trtllm_python is None:
        tried = f" (tried {', '.join(machine.tried)})" if machine.tried else ""
        problems.append(f"no tensorrt_llm importable{tried}")
    elif machine.trtllm_version is not None and not machine.trtllm_version.startswith(pins.TRTLLM_SERIES):
        problems.append(
            f"tensorrt_llm {machine.trtllm_version} is installed; engines here are built and "
            f"served with {pins.TRTLLM_SERIES}x"
        )
    if serving and machine.ngc_release is None:
        problems.append(f"not in the NGC image {pins.NGC_IMAGE} ({NGC_ENV} is unset)")
    if serving:
        problems += [f"no {tool} on PATH" for tool, path in machine.tools.items() if path is None]
    if checkpoint is not None and not Path(checkpoint).is_dir():
        problems.append(f"CHECKPOINT {checkpoint} is not a directory")
    return problems


def converter_missing(checkpoint: Path, examples_dir: str, precision: str | None = None) -> list[str]:
    """What the conversion of this checkpoint lacks: a supported architecture, its converter script (or
    quantize.py for fp8) in the examples directory; [] when the checkpoint is no directory (said above)."""
    if not Path(checkpoint).is_dir():
        return []
    try:
        architecture = families.read_architecture(checkpoint)
        if architecture is None:
            return [f"CHECKPOINT {checkpoint} has no config.json"]
        family = families.family_of(architecture)
    except ValueError as exc:
        return [str(exc)]
    script = recipes.QUANTIZE if precision == "fp8" else family.converter
    path = Path(examples_dir) / script
    if path.is_file():
        return []
    return [
        f"no {path} (the {family.name} converter for {architecture}): set {pins.EXAMPLES_DIR_ENV} to the "
        f"TensorRT-LLM {pins.TRTLLM_VERSION} examples directory (the NGC image ships it at "
        f"{' or '.join(pins.IMAGE_EXAMPLES_DIRS)})"
    ]


def refusal(problems: list[str], action: str = "run gpu-check") -> str:
    return (
        f"cannot {action} on this machine: {'; '.join(problems)}. Nothing was built or started. "
        f"To get them: {pins.HOW_TO_GET} (docs/GPU.md, step 0)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m acceptance.gpu_check.preflight",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", type=Path, default=None, help="the HF checkpoint directory to check")
    parser.add_argument(
        "--engines", action="store_true", help="check only what an engine build needs (make engines)"
    )
    parser.add_argument("--precision", default=None, help="the precision to build (fp8 needs quantize.py)")
    parser.add_argument(
        "--examples-dir",
        default=None,
        help=f"TensorRT-LLM examples directory (default ${pins.EXAMPLES_DIR_ENV}, else the NGC image's)",
    )
    parser.add_argument("candidates", nargs="+", help="interpreters in order of preference")
    args = parser.parse_args(argv)
    machine = probe(args.candidates)
    problems = missing(machine, args.checkpoint, serving=not args.engines)
    if args.checkpoint is not None:
        examples = args.examples_dir or pins.default_examples_dir()
        problems += converter_missing(args.checkpoint, examples, args.precision)
    if problems:
        action = "build engines" if args.engines else "run gpu-check"
        print(f"error: {refusal(problems, action)}", file=sys.stderr)
        return 2
    print(machine.trtllm_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
