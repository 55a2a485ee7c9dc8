"""Every flag and backend key we emit is one verified in the TensorRT-LLM 1.2.x sources
(pinned_flags_1_2.json)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from build_engines.trtllm import engine_build, launcher, recipes
from build_engines.trtllm.engine_config import TrtllmEngineModel
from build_engines.trtllm.environment import GpuEnvironment
from build_engines.trtllm.lookahead import Lookahead
from build_engines.trtllm.recipes import EngineBuildConfig

PINNED = json.loads((Path(engine_build.__file__).parent / "pinned_flags_1_2.json").read_text())
TOOLS = {
    "convert_checkpoint.py": "convert_checkpoint",
    "quantize.py": "quantize",
    "trtllm-build": "trtllm-build",
    "tritonserver": "tritonserver",
    "mpirun": "mpirun",
}


def _tool(argv0: str, argv1: str) -> str:
    name = Path(argv1).name if argv0 == "python3" else Path(argv0).name
    return TOOLS[name]


def _flags(argv: list[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in argv if arg.startswith("-")}


def dry_run_lines() -> list[str]:
    """The commands of every precision × parallelism × logits choice, and of each precision with lookahead
    (comment lines left out)."""
    configs = [
        EngineBuildConfig(precision, Path("/ckpt"), Path("/out"), tp=tp, pp=pp, gather_logits=gather)
        for precision in recipes.PRECISIONS
        for tp, pp in ((1, 1), (2, 2))
        for gather in recipes.GATHER_LOGITS
    ]
    configs += [
        EngineBuildConfig(precision, Path("/ckpt"), Path("/out"), lookahead=Lookahead(4, 3, 4))
        for precision in recipes.PRECISIONS
    ]
    lines: list[str] = []
    for cfg in configs:
        printed: list[str] = []
        engine_build.run(cfg, dry_run=True, env=GpuEnvironment(), out=printed.append)
        lines.extend(line for line in "\n".join(printed).splitlines() if not line.startswith("#"))
    return lines


def test_every_emitted_build_flag_is_pinned():
    lines = dry_run_lines()
    # two commands per config: (two parallelisms × each logits choice, plus lookahead) × each precision
    assert len(lines) == 2 * (2 * len(recipes.GATHER_LOGITS) + 1) * len(recipes.PRECISIONS)
    assert any("--gather_generation_logits" in line for line in lines)  # the opt-in flags are checked too
    assert any("--gather_context_logits" in line for line in lines)
    assert any("--speculative_decoding_mode lookahead_decoding --max_draft_len 15" in line for line in lines)
    for line in lines:
        argv = shlex.split(line)
        tool = _tool(argv[0], argv[1])
        unknown = _flags(argv) - set(PINNED["tools"][tool]["flags"])
        assert not unknown, f"{tool}: {sorted(unknown)} not verified in {PINNED['tools'][tool]['source']}"


def test_every_launcher_flag_is_pinned(tmp_path):
    argv = launcher.command(launcher.LaunchConfig(model_repo=tmp_path, tp=2, pp=2))
    segments, current = [], []
    for arg in argv[1:]:
        if arg == ":":
            segments.append(current)
            current = []
        else:
            current.append(arg)
    segments.append(current)
    assert _flags(["--allow-run-as-root", "-n"]) <= set(PINNED["tools"]["mpirun"]["flags"])
    for segment in segments:
        server = segment[segment.index("tritonserver") :]
        mpi = segment[: segment.index("tritonserver")]
        assert _flags(mpi) <= set(PINNED["tools"]["mpirun"]["flags"])
        assert _flags(server) <= set(PINNED["tools"]["tritonserver"]["flags"]), _flags(server)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        dict(kv_cache_free_gpu_mem_fraction=None, max_tokens_in_paged_kv_cache=8),
        dict(lookahead=Lookahead(4, 3, 4)),
    ],
)
def test_every_backend_parameter_key_is_pinned(kwargs):
    cfg = TrtllmEngineModel(engine_path="/e", **kwargs).to_model_config()
    assert set(cfg.parameters) <= set(PINNED["backend_parameters"]["keys"])


def test_pinned_release_matches_pins():
    from build_engines.trtllm import pins

    assert PINNED["release"] == pins.TRTLLM_VERSION
    assert pins.TRTLLM_VERSION.startswith(pins.TRTLLM_SERIES)
