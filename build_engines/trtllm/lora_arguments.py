"""The LoRA options of `plan`, `engine`, `gpu-repo` and `emulate-gpu-repo` (lora.py says what they do).

`engine`: --lora-target-modules / --max-lora-rank build the engine with the LoRA plugin (either one
turns it on; `make engines ENGINE_ARGS="--max-lora-rank 16"`). `gpu-repo`: --lora-dir (the adapter
directory as the server sees it, for requests' lora_name) and the backend's cache sizes, which
`plan --max-lora-rank … --lora-adapters N` suggests.
"""

from __future__ import annotations

import argparse

from python_backend.contract.trtllm_backend import lora as bl

from .lora import DEFAULT_TARGET_MODULES, EngineLora, LoraBuild, LoraCacheRequest

MODULES_HELP = f"TensorRT-LLM LoRA modules ({', '.join(bl.MODULE_IDS)}; default all)"


def add_build_args(p: argparse.ArgumentParser, when: str = "") -> None:
    p.add_argument(
        "--lora-target-modules", nargs="+", default=None, metavar="MODULE", help=MODULES_HELP + when
    )
    p.add_argument(
        "--max-lora-rank",
        type=int,
        default=None,
        help=f"build with the LoRA plugin for adapters up to this rank (trtllm-build's default "
        f"{bl.DEFAULT_MAX_LORA_RANK} when only --lora-target-modules is given){when}",
    )


def build_from_args(args) -> LoraBuild | None:
    """The LoRA build the options ask for; None when neither is given (no LoRA plugin)."""
    if args.lora_target_modules is None and args.max_lora_rank is None:
        return None
    return LoraBuild(
        max_lora_rank=args.max_lora_rank or bl.DEFAULT_MAX_LORA_RANK,
        target_modules=tuple(args.lora_target_modules or DEFAULT_TARGET_MODULES),
    )


def add_cache_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lora-dir",
        default="",
        help="the adapter directory (one PEFT adapter per sub-directory) as tritonserver sees it: requests "
        "name an adapter by lora_name; needs an engine built with LoRA (default: off)",
    )
    p.add_argument(
        "--lora-cache-gpu-memory-fraction",
        type=float,
        default=None,
        help="the backend's LoRA device cache: share of the GPU memory left after the engine and the "
        "KV cache (see `plan`; default: the backend's 0.05)",
    )
    p.add_argument(
        "--lora-cache-host-memory-bytes",
        type=int,
        default=None,
        help="the backend's LoRA host cache in bytes (default: the backend's 1 GiB)",
    )


def cache_request_from_args(args) -> LoraCacheRequest:
    return LoraCacheRequest(
        lora_dir=args.lora_dir,
        gpu_memory_fraction=args.lora_cache_gpu_memory_fraction,
        host_memory_bytes=args.lora_cache_host_memory_bytes,
    )


def add_plan_args(p: argparse.ArgumentParser) -> None:
    add_build_args(p, "; plan the LoRA device cache for them")
    p.add_argument(
        "--lora-adapters",
        type=int,
        default=4,
        help="adapters of --max-lora-rank the LoRA device cache holds at once (default %(default)s)",
    )


def planned_engine_lora(args) -> EngineLora | None:
    """gpu-repo --dry-run before the build: the LoRA the planned engine will be built with."""
    build = build_from_args(args)
    if build is None:
        return None
    return EngineLora(
        plugin="float16", max_lora_rank=build.max_lora_rank, target_modules=build.target_modules
    )
