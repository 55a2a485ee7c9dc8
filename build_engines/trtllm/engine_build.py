"""`engine`: HF checkpoint → TensorRT-LLM 1.2.x engine (+ manifest), one precision per run."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from ..checkpoint import checkpoint_hash
from ..manifest import EngineManifest
from . import environment, pins, recipes
from .recipes import EngineBuildConfig


def format_commands(cmds: list[list[str]]) -> str:
    return "\n".join(shlex.join(cmd) for cmd in cmds)


def check_fp8(cfg: EngineBuildConfig, env: environment.GpuEnvironment) -> None:
    if cfg.precision != "fp8":
        return
    for gpu in env.gpus:
        if gpu.sm < pins.FP8_MIN_SM:
            raise ValueError(
                f"precision fp8 needs a GPU with SM >= {pins.FP8_MIN_SM} (Ada, Hopper or newer); "
                f"GPU {gpu.index} ({gpu.name}) is SM {gpu.sm}. Use int8_sq or int8_wo on this GPU"
            )


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


def _engine_build_config(engine_dir: Path) -> dict:
    """The engine's own config.json build_config: what trtllm-build actually did."""
    return json.loads((engine_dir / "config.json").read_text()).get("build_config", {})


def engine_gather_logits(build_config: dict, asked: EngineBuildConfig) -> str:
    """What the engine gathers, from trtllm-build's record (BuildConfig's gather_generation_logits /
    gather_context_logits, the keys the C++ runtime reads back); what we asked for where it says nothing."""
    generation = build_config.get("gather_generation_logits", asked.gathers_generation_logits)
    context = build_config.get("gather_context_logits", asked.gathers_context_logits)
    return recipes.gather_logits_name(bool(generation), bool(context))


def run(
    cfg: EngineBuildConfig,
    *,
    dry_run: bool = False,
    env: environment.GpuEnvironment | None = None,
    runner=subprocess.run,
    out=print,
) -> Path | None:
    cmds = recipes.commands(cfg)
    env = environment.detect() if env is None else env
    check_fp8(cfg, env)
    if dry_run:
        if cfg.architecture is None:  # stderr: stdout stays the commands, one per line
            print(
                f"# note: no {cfg.checkpoint}/config.json here: these are the {cfg.family.name} family's "
                "commands; a real run reads the checkpoint's architectures first",
                file=sys.stderr,
            )
        if cfg.lookahead is not None:  # what trtllm-build will change (lookahead.py)
            draft = cfg.lookahead.max_draft_len
            tokens = cfg.max_batch_size * (draft + 1)
            out(
                f"# lookahead (W, N, G) = {tuple(cfg.lookahead.as_list())}: --max_draft_len {draft}; "
                f"trtllm-build raises max_seq_len to {cfg.max_seq_len + draft} for it "
                f"(requests keep {cfg.max_seq_len})"
                + (f" and max_num_tokens to {tokens}" if cfg.max_num_tokens < tokens else "")
            )
        out(format_commands(cmds))
        return None
    env.require("build TensorRT-LLM engines")
    if cfg.architecture is None:
        raise ValueError(f"{cfg.checkpoint} has no config.json: it is not an HF checkpoint directory")
    digest = checkpoint_hash(cfg.checkpoint)  # also fails early on a directory that is no checkpoint
    # The converter's and trtllm-build's scratch (trtllm-build's timing cache) go to the work dir when
    # one is given: the caller's directory may be read-only (the chart's build Job).
    where = {}
    if cfg.work_dir is not None:
        cfg.work_dir.mkdir(parents=True, exist_ok=True)
        where = {"cwd": cfg.work_dir}
    for cmd in cmds:
        runner(cmd, check=True, **where)
    built = _engine_build_config(cfg.engine_dir)
    paged_fmha = built.get("plugin_config", {}).get("use_paged_context_fmha")
    gpu = env.gpus[0]
    manifest = EngineManifest(
        precision=cfg.precision,
        dtype=cfg.dtype,
        tp=cfg.tp,
        pp=cfg.pp,
        max_batch_size=cfg.max_batch_size,
        max_input_len=cfg.max_input_len,
        max_seq_len=cfg.max_seq_len,
        max_num_tokens=cfg.max_num_tokens,
        use_paged_context_fmha=bool(paged_fmha),
        kv_cache_type="paged",
        build_flags={"convert": build_flags(cmds[0]), "trtllm-build": build_flags(cmds[1])},
        commands=[shlex.join(c) for c in cmds],
        checkpoint=str(cfg.checkpoint.resolve()),
        checkpoint_sha256=digest,
        trtllm_version=env.trtllm_version,
        tensorrt_version=env.tensorrt_version,
        gpu_name=gpu.name,
        gpu_sm=gpu.sm,
        gather_logits=engine_gather_logits(built, cfg),
        lookahead=cfg.lookahead.as_list() if cfg.lookahead is not None else None,
    )
    manifest.save(cfg.engine_dir)
    return cfg.engine_dir
