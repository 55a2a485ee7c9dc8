"""What GPU software and hardware this machine has.

Found without importing tensorrt_llm, which is slow and needs CUDA.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import metadata

from . import pins


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    sm: int  # compute capability as an integer: 8.9 -> 89


@dataclass(frozen=True)
class GpuEnvironment:
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)
    trtllm_version: str | None = None
    tensorrt_version: str | None = None

    def missing(self) -> list[str]:
        """Human-readable list of what a real build/serve needs and is not here."""
        problems = []
        if not self.gpus:
            problems.append("no CUDA device (nvidia-smi lists no GPU)")
        if self.trtllm_version is None:
            problems.append("tensorrt_llm is not installed")
        elif not self.trtllm_version.startswith(pins.TRTLLM_SERIES):
            problems.append(
                f"tensorrt_llm {self.trtllm_version} is installed, but engines here are built "
                f"and served with {pins.TRTLLM_SERIES}x"
            )
        return problems

    def require(self, action: str) -> None:
        problems = self.missing()
        if problems:
            raise GpuEnvironmentError(
                f"cannot {action} on this machine: {'; '.join(problems)}. "
                f"To get them: {pins.HOW_TO_GET}. Nothing was run. "
                f"Use --dry-run to print the commands instead."
            )


class GpuEnvironmentError(RuntimeError):
    pass


def _version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _parse_smi(text: str) -> tuple[Gpu, ...]:
    gpus = []
    for index, line in enumerate(text.strip().splitlines()):
        name, _, cap = line.rpartition(",")
        try:
            major, _, minor = cap.strip().partition(".")
            gpus.append(Gpu(index, name.strip(), int(major) * 10 + int(minor or 0)))
        except ValueError:
            continue  # "[N/A]" or a driver too old for compute_cap: treat as no usable GPU
    return tuple(gpus)


def list_gpus() -> tuple[Gpu, ...]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return _parse_smi(out)


def detect() -> GpuEnvironment:
    return GpuEnvironment(
        gpus=list_gpus(),
        trtllm_version=_version("tensorrt_llm", "tensorrt-llm"),
        tensorrt_version=_version(
            "tensorrt", "tensorrt_cu13", "tensorrt-cu13", "tensorrt_cu12", "tensorrt-cu12"
        ),
    )
