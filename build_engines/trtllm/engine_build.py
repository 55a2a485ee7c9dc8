"""`engine`: HF checkpoint → TensorRT-LLM 1.2.x engine (+ manifest), one precision per run."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import environment, pins, recipes
from .manifest import EngineManifest, checkpoint_hash

QUANTIZED_DTYPES = ("float16", "bfloat16")


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass
class EngineBuildConfig:
    precision: str
    checkpoint: Path
    output: Path
    tp: int = 1
    pp: int = 1
    max_batch_size: int = 64
    max_input_len: int = 2048
    max_seq_len: int = 4096
    max_num_tokens: int = 8192
    # Activation/non-quantized dtype. fp16/bf16 fix it; quantized precisions default to float16.
    dtype: str | None = None
    examples_dir: str = field(default_factory=lambda: os.environ.get(pins.EXAMPLES_DIR_ENV, pins.DEFAULT_EXAMPLES_DIR))

    def __post_init__(self) -> None:
        if self.precision not in recipes.PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(recipes.PRECISIONS)}, got {self.precision!r}")
        for name in ("tp", "pp", "max_batch_size", "max_input_len", "max_seq_len", "max_num_tokens"):
            _positive(name, getattr(self, name))
        if self.max_input_len >= self.max_seq_len:
            raise ValueError(f"max_input_len ({self.max_input_len}) must be below max_seq_len ({self.max_seq_len}): "
                             "max_seq_len counts the prompt and the generated tokens")
        fixed = recipes.DTYPE_NAMES.get(self.precision)
        if fixed is not None:
            if self.dtype not in (None, fixed):
                raise ValueError(f"precision {self.precision} means dtype {fixed}, got dtype {self.dtype!r}")
            self.dtype = fixed
        else:
            self.dtype = self.dtype or "float16"
            if self.dtype not in QUANTIZED_DTYPES:
                raise ValueError(f"dtype for {self.precision} must be one of {', '.join(QUANTIZED_DTYPES)}, "
                                 f"got {self.dtype!r}")
        self.checkpoint = Path(self.checkpoint)
        self.output = Path(self.output)

    @property
    def tllm_checkpoint_dir(self) -> Path:
        return self.output / "tllm_checkpoint"

    @property
    def engine_dir(self) -> Path:
        return self.output / "engine"


def commands(cfg: EngineBuildConfig) -> list[list[str]]:
    return recipes.commands(cfg)


def format_commands(cmds: list[list[str]]) -> str:
    return "\n".join(shlex.join(cmd) for cmd in cmds)


def check_fp8(cfg: EngineBuildConfig, env: environment.GpuEnvironment) -> None:
    if cfg.precision != "fp8":
        return
    for gpu in env.gpus:
        if gpu.sm < pins.FP8_MIN_SM:
            raise ValueError(f"precision fp8 needs a GPU with SM >= {pins.FP8_MIN_SM} (Ada, Hopper or newer); "
                             f"GPU {gpu.index} ({gpu.name}) is SM {gpu.sm}. Use int8_sq or int8_wo on this GPU")


def build_flags(cmd: list[str]) -> dict:
    """`--flag value` pairs of one command as a dict (bare switches map to True)."""
    flags: dict = {}
    i = 0
    while i < len(cmd):
        if cmd[i].startswith("--"):
            if i + 1 < len(cmd) and not cmd[i + 1].startswith("--"):
                flags[cmd[i][2:]] = cmd[i + 1]
                i += 2
                continue
            flags[cmd[i][2:]] = True
        i += 1
    return flags


def _engine_plugin_setting(engine_dir: Path, key: str) -> object:
    """A plugin setting from the engine's own config.json (what trtllm-build actually did)."""
    config = json.loads((engine_dir / "config.json").read_text())
    return config.get("build_config", {}).get("plugin_config", {}).get(key)


def run(cfg: EngineBuildConfig, *, dry_run: bool = False,
        env: environment.GpuEnvironment | None = None, runner=subprocess.run, out=print) -> Path | None:
    cmds = commands(cfg)
    env = environment.detect() if env is None else env
    check_fp8(cfg, env)
    if dry_run:
        out(format_commands(cmds))
        return None
    env.require("build TensorRT-LLM engines")
    digest = checkpoint_hash(cfg.checkpoint)  # also fails early on a directory that is no checkpoint
    for cmd in cmds:
        runner(cmd, check=True)
    paged_fmha = _engine_plugin_setting(cfg.engine_dir, "use_paged_context_fmha")
    gpu = env.gpus[0]
    manifest = EngineManifest(
        precision=cfg.precision, dtype=cfg.dtype, tp=cfg.tp, pp=cfg.pp,
        max_batch_size=cfg.max_batch_size, max_input_len=cfg.max_input_len, max_seq_len=cfg.max_seq_len,
        max_num_tokens=cfg.max_num_tokens, use_paged_context_fmha=bool(paged_fmha), kv_cache_type="paged",
        build_flags={"convert": build_flags(cmds[0]), "trtllm-build": build_flags(cmds[1])},
        commands=[shlex.join(c) for c in cmds], checkpoint=str(cfg.checkpoint.resolve()),
        checkpoint_sha256=digest, trtllm_version=env.trtllm_version, tensorrt_version=env.tensorrt_version,
        gpu_name=gpu.name, gpu_sm=gpu.sm)
    manifest.save(cfg.engine_dir)
    return cfg.engine_dir
