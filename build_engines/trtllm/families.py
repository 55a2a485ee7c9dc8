"""Which TensorRT-LLM 1.2 converter turns a checkpoint of a given architecture into a TRT-LLM checkpoint.

The HF checkpoint's config.json names its model class in `architectures`; TensorRT-LLM maps each name to
one of its model classes (MODEL_MAP, tensorrt_llm/models/__init__.py of NVIDIA/TensorRT-LLM at
02267d3d4fd886c3ad036f6580beb0847eac6e4b) and ships one `convert_checkpoint.py` per family under
examples/models/core/. The families differ in their flags, so the command is built from the family's
table below; an architecture outside it is refused by name before anything runs (the Llama converter
would fail late or convert it wrongly). The facts are collected in docs/upstream/trtllm-1.2-deployment.md,
Q8. Standard library only: acceptance/gpu_check/preflight.py imports it before any environment exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Family:
    """One converter script and how it spells the flags the recipes need."""

    name: str
    converter: str  # relative to the examples directory (1.2.x layout)
    architectures: tuple[str, ...]  # HF `architectures[0]` values it converts
    parallel_flags: str  # "tp_pp": --tp_size/--pp_size; "world_size": --world-size (TP only)
    extra: tuple[str, ...] = ()  # flags the converter needs besides the recipe's
    refused: tuple[str, ...] = ()  # recipes (precisions) the converter has no flags for
    max_pp: int | None = None  # None: any pipeline parallelism
    source: str = ""


FAMILIES = (
    # The Mixtral README converts with the Llama script: "We use the LLaMA `convert_checkpoint.py` script"
    # (examples/models/core/mixtral/README.md at 10c1d594d3078c5e9f425373bc15763e87084a07; mixtral/ has
    # no converter of its own). Flags: pinned_flags_1_2.json.
    Family(
        name="llama",
        converter="models/core/llama/convert_checkpoint.py",
        architectures=("LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM"),
        parallel_flags="tp_pp",
        source="examples/models/core/llama/convert_checkpoint.py (pinned_flags_1_2.json)",
    ),
    # Same flag names as llama for every recipe here (--tp_size, --pp_size, --use_weight_only,
    # --weight_only_precision int8, --smoothquant, --per_token, --per_channel, --int8_kv_cache);
    # MODEL_MAP maps Qwen2ForCausalLM and Qwen3ForCausalLM to QWenForCausalLM.
    Family(
        name="qwen",
        converter="models/core/qwen/convert_checkpoint.py",
        architectures=("Qwen2ForCausalLM", "Qwen3ForCausalLM"),
        parallel_flags="tp_pp",
        source="examples/models/core/qwen/convert_checkpoint.py at 0df9aaf38338424867a1ca1faa71173501205001",
    ),
    # `--ckpt-type` has no default (CKPT_PARSER[args.ckpt_type]), so hf is passed; `--world-size` is the
    # TP size and there is no --tp_size/--pp_size ("We don't support pipeline parallelism yet for Gemma.").
    Family(
        name="gemma",
        converter="models/core/gemma/convert_checkpoint.py",
        architectures=("GemmaForCausalLM", "Gemma2ForCausalLM"),
        parallel_flags="world_size",
        extra=("--ckpt-type", "hf"),
        max_pp=1,
        source="examples/models/core/gemma/convert_checkpoint.py at fbbc05dd1445fb8545148cfcb51b8e2bdcf28cfa",
    ),
    # `assert args.pp_size == 1, "Pipeline parallelism is not supported."`; no --smoothquant, --per_token,
    # --per_channel or --int8_kv_cache, so int8_sq and int8_kv cannot be built for Phi.
    Family(
        name="phi",
        converter="models/core/phi/convert_checkpoint.py",
        architectures=("PhiForCausalLM", "Phi3ForCausalLM"),
        parallel_flags="tp_pp",
        refused=("int8_sq", "int8_kv"),
        max_pp=1,
        source="examples/models/core/phi/convert_checkpoint.py at 567239fcd40bda119965a3a8abf43856c63c9527",
    ),
)
BY_ARCHITECTURE = {arch: family for family in FAMILIES for arch in family.architectures}
SUPPORTED = tuple(BY_ARCHITECTURE)
DEFAULT = FAMILIES[0]  # a dry run for a checkpoint not on this machine prints the Llama commands


def family_of(architecture: str) -> Family:
    """The family converting `architecture`; ValueError naming it and the supported list otherwise."""
    family = BY_ARCHITECTURE.get(architecture)
    if family is None:
        raise ValueError(
            f"architecture {architecture} is not supported by the GPU path: no TensorRT-LLM 1.2 converter "
            f"is wired for it. Supported: {', '.join(SUPPORTED)}. Nothing was converted"
        )
    return family


def read_architecture(checkpoint: Path) -> str | None:
    """`architectures[0]` of the checkpoint's config.json; None when there is no config.json.

    A config.json without `architectures` is refused: the converter could only be guessed."""
    path = Path(checkpoint) / "config.json"
    if not path.is_file():
        return None
    try:
        names = json.loads(path.read_text()).get("architectures") or []
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"{path} is not an HF config (JSON object): {exc}") from None
    if not names:
        raise ValueError(
            f"{path} names no architecture (`architectures` is missing or empty), so the converter "
            f"cannot be chosen. Supported: {', '.join(SUPPORTED)}"
        )
    return str(names[0])


def check(family: Family, *, precision: str, pp: int) -> None:
    """Refuse, by name, a recipe or pipeline parallelism the family's converter cannot build."""
    if precision in family.refused:
        raise ValueError(
            f"precision {precision} cannot be built for the {family.name} family: its converter "
            f"({family.converter}) has no flags for it. Use one of the other precisions"
        )
    if family.max_pp is not None and pp > family.max_pp:
        raise ValueError(
            f"the {family.name} family's converter ({family.converter}) does not support pipeline "
            f"parallelism: pp must be 1, got {pp}"
        )


def parallel_args(family: Family, *, tp: int, pp: int) -> list[str]:
    if family.parallel_flags == "world_size":
        return ["--world-size", str(tp)]
    return ["--tp_size", str(tp), "--pp_size", str(pp)]
