"""One gpu-check run's settings, validated, and the `python -m build_engines` command of each step."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from build_engines.llmapi import checkpoint_facts
from build_engines.trtllm import recipes

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results" / "gpu-check"
GPU_REPO = ROOT / "build" / "gpu_model_repository"
GPU_ENGINES = ("trt", "pytorch")  # GPU_ENGINE: TensorRT engines, or the LLM API on the checkpoint


@dataclass
class GpuCheckConfig:
    checkpoint: Path
    precision: str = "fp16"
    gpu_engine: str = "trt"  # pytorch: no engine build, gpu-repo --gpu-engine pytorch on the checkpoint
    tp: int = 1
    pp: int = 1
    engine_dir: Path | None = None  # default: build/engines/<precision>-tp<tp>-pp<pp>, as `make engines`
    repo: Path = GPU_REPO
    results: Path = RESULTS
    name: str | None = None  # the run's directory; default: time, precision and layout
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    reuse_engine: bool = False
    engine_args: list[str] = field(default_factory=list)  # further `engine` options (ENGINE_ARGS)
    gpu_repo_args: list[str] = field(default_factory=list)  # further `gpu-repo` options (GPU_REPO_ARGS)
    load_seconds: float = 20.0
    load_users: int = 4
    ready_timeout_s: float = 1800.0  # loading a large engine over TP ranks takes minutes

    def __post_init__(self) -> None:
        if self.gpu_engine not in GPU_ENGINES:
            raise ValueError(f"gpu_engine must be one of {', '.join(GPU_ENGINES)}, got {self.gpu_engine!r}")
        if self.gpu_engine == "pytorch":
            checkpoint_facts.check_precision(self.precision)  # what the checkpoint holds; int8_sq refused
        elif self.precision not in recipes.PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(recipes.PRECISIONS)}, got {self.precision!r}"
            )
        if self.tp < 1 or self.pp < 1:
            raise ValueError(f"tp and pp must be >= 1, got tp={self.tp} pp={self.pp}")
        self.checkpoint = Path(self.checkpoint)
        self.engine_dir = Path(
            self.engine_dir or ROOT / "build" / "engines" / f"{self.precision}-tp{self.tp}-pp{self.pp}"
        )
        self.name = self.name or time.strftime("%Y%m%d-%H%M%S") + f"-{self.precision}-tp{self.tp}-pp{self.pp}"

    @property
    def out_dir(self) -> Path:
        return Path(self.results) / self.name

    def commands(self, python: str = sys.executable) -> dict[str, list[str]]:
        """The `python -m build_engines` command of each step, as `make engines` / `gpu-repo` run them.
        The PyTorch path has no engine step: its gpu-repo reads the checkpoint itself."""
        base = [python, "-m", "build_engines"]
        if self.gpu_engine == "pytorch":
            return {"gpu-repo": self._pytorch_repo_command(base), "launch": self._launch_command(base)}
        return {
            "engine": [
                *base,
                "engine",
                "--precision",
                self.precision,
                "--checkpoint",
                str(self.checkpoint),
                "--output",
                str(self.engine_dir),
                "--tp",
                str(self.tp),
                "--pp",
                str(self.pp),
                *self.engine_args,
            ],
            "gpu-repo": [
                *base,
                "gpu-repo",
                "--engine-dir",
                str(self.engine_dir),
                "--tokenizer-dir",
                str(self.checkpoint),
                "--output",
                str(self.repo),
                # served on this machine, from where it is built (GPU_REPO_ARGS may say otherwise)
                "--repo-mount-path",
                str(Path(self.repo).resolve()),
                *self.gpu_repo_args,
            ],
            "launch": self._launch_command(base),
        }

    def _pytorch_repo_command(self, base: list[str]) -> list[str]:
        # Served here: the repository where it is built, the checkpoint where it is (unless GPU_REPO_ARGS
        # bundles it or names another path).
        where = (
            []
            if {"--bundle-checkpoint", "--checkpoint-path"} & set(self.gpu_repo_args)
            else [
                "--checkpoint-path",
                str(self.checkpoint.resolve()),
            ]
        )
        return [
            *base,
            "gpu-repo",
            "--gpu-engine",
            "pytorch",
            "--checkpoint",
            str(self.checkpoint),
            "--output",
            str(self.repo),
            "--precision",
            self.precision,
            "--tp",
            str(self.tp),
            "--pp",
            str(self.pp),
            "--repo-mount-path",
            str(Path(self.repo).resolve()),
            *where,
            *self.gpu_repo_args,
        ]

    def _launch_command(self, base: list[str]) -> list[str]:
        return [
            *base,
            "launch",
            "--model-repo",
            str(self.repo),
            "--http-port",
            str(self.http_port),
            "--grpc-port",
            str(self.grpc_port),
            "--metrics-port",
            str(self.metrics_port),
        ]
