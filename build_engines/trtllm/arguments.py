"""What each GPU subcommand of `python -m build_engines` accepts: plan, engine, gpu-repo, launch.

One `add_<command>(subparsers)` per command returns its parser; cli.py attaches the handler. The
defaults of the build settings live on recipes.EngineBuildConfig and are read from there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import lora_arguments, pins, plan, recipes
from .lookahead import Lookahead

DEFAULTS = recipes.EngineBuildConfig  # build defaults live on the dataclass


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _engine_shape_args(p: argparse.ArgumentParser, help_suffix: str = "") -> None:
    p.add_argument(
        "--max-batch-size",
        type=int,
        default=DEFAULTS.max_batch_size,
        help=f"requests the engine schedules together (default %(default)s){help_suffix}",
    )
    p.add_argument(
        "--max-input-len",
        type=int,
        default=DEFAULTS.max_input_len,
        help=f"longest prompt in tokens (default %(default)s){help_suffix}",
    )
    p.add_argument(
        "--max-seq-len",
        type=int,
        default=DEFAULTS.max_seq_len,
        help=f"prompt + generated tokens per request (default %(default)s){help_suffix}",
    )
    p.add_argument(
        "--max-num-tokens",
        type=int,
        default=DEFAULTS.max_num_tokens,
        help=f"tokens per in-flight batch iteration (default %(default)s){help_suffix}",
    )


def _gather_logits_arg(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument(
        "--gather-logits",
        choices=recipes.GATHER_LOGITS,
        default=DEFAULTS.gather_logits,
        help=f"{help_text} (default %(default)s)",
    )


def _lookahead_arg(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--lookahead", type=_lookahead, default=None, metavar="W,N,G", help=help_text)


def _lookahead(text: str) -> Lookahead:
    try:
        return Lookahead.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_plan(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plan",
        help="GPU capacity: weight bytes, KV bytes per token, concurrent sequences",
        description="Size weights and paged KV cache for a TP×PP layout from an HF config.json.",
    )
    p.add_argument("--config", type=Path, required=True, help="HF config.json (or its checkpoint directory)")
    p.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--pp", type=int, default=1)
    p.add_argument(
        "--gpu-mem-gb", type=float, default=80.0, help="memory per GPU in GiB (default %(default)s)"
    )
    p.add_argument("--context", type=int, default=4096, help="tokens per sequence (prompt + output)")
    p.add_argument(
        "--quant",
        choices=sorted(plan.QUANT_WEIGHT_BYTES),
        default=None,
        help="weight quantization of the linear layers (default: none)",
    )
    p.add_argument(
        "--kv-dtype",
        choices=sorted(plan.DTYPE_BYTES),
        default=None,
        help="KV cache dtype (default: --dtype; fp8 with --quant fp8)",
    )
    _gather_logits_arg(p, "logits the engine gathers (`engine --gather-logits`): their buffers are counted")
    p.add_argument(
        "--max-batch-size",
        type=int,
        default=DEFAULTS.max_batch_size,
        help="the engine's max batch size, for the logits buffers (default %(default)s)",
    )
    p.add_argument(
        "--max-num-tokens",
        type=int,
        default=DEFAULTS.max_num_tokens,
        help="the engine's max tokens per iteration, for the context logits (default %(default)s)",
    )
    p.add_argument(
        "--logits-dtype",
        choices=("float32", "float16"),
        default="float32",
        help="the engine's logits dtype (trtllm-build --logits_dtype; default %(default)s)",
    )
    lora_arguments.add_plan_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def add_engine(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "engine",
        help=f"build a TensorRT-LLM {pins.TRTLLM_SERIES}x engine (+ manifest) for one precision",
        description="HF checkpoint → TensorRT-LLM checkpoint (TP/PP, quantization) → trtllm-build engine. "
        "Writes OUTPUT/tllm_checkpoint and OUTPUT/engine (engine files, config.json, manifest.json).",
    )
    p.add_argument("--precision", required=True, choices=recipes.PRECISIONS)
    p.add_argument("--checkpoint", type=Path, required=True, help="HF checkpoint directory")
    p.add_argument("--output", type=Path, required=True, help="output directory")
    p.add_argument("--tp", type=int, default=1, help="tensor parallel size (fixed at conversion)")
    p.add_argument("--pp", type=int, default=1, help="pipeline parallel size (fixed at conversion)")
    _engine_shape_args(p)
    p.add_argument(
        "--dtype",
        choices=recipes.QUANTIZED_DTYPES,
        default=None,
        help="activation dtype for quantized precisions (default float16)",
    )
    _gather_logits_arg(
        p,
        "build the engine to return generation logits (--gather_generation_logits), "
        "context logits (--gather_context_logits) or both (all); they cost GPU memory, see `plan`",
    )
    _lookahead_arg(
        p,
        "lookahead decoding: build for the draft these sizes need (window, n-gram, verification "
        "set; e.g. 4,3,4 needs 15 draft tokens), recorded in the manifest for gpu-repo",
    )
    lora_arguments.add_build_args(p)
    p.add_argument(
        "--examples-dir",
        default=None,
        help=f"TensorRT-LLM examples/ of the {pins.TRTLLM_VERSION} tag (default ${pins.EXAMPLES_DIR_ENV}, "
        f"else the NGC image's {' or '.join(pins.IMAGE_EXAMPLES_DIRS)}, else {pins.DEFAULT_EXAMPLES_DIR})",
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="writable directory the build runs in; trtllm-build's timing cache goes there "
        "(default: the current directory, which must then be writable)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the commands, one per line, and exit")
    return p


def add_gpu_repo(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gpu-repo",
        help="assemble the GPU model repository (tensorrtllm engine + shared models)",
        description="Shared ensemble/preprocessing/postprocessing + an in-flight-batching `engine` model.",
    )
    p.add_argument(
        "--engine-dir", type=Path, required=True, help="`engine --output` dir or its engine/ subdir"
    )
    p.add_argument("--tokenizer-dir", type=Path, required=True, help="HF checkpoint/tokenizer directory")
    p.add_argument("--output", type=Path, required=True)
    p.add_argument(
        "--triton-max-batch-size", type=int, default=None, help="default: the engine's max batch size"
    )
    p.add_argument(
        "--max-queue-size", type=int, default=256, help="requests queued before rejecting (default 256)"
    )
    p.add_argument("--max-queue-delay-us", type=int, default=0)
    p.add_argument(
        "--kv-cache-free-gpu-mem-fraction",
        type=float,
        default=0.9,
        help="share of free GPU memory for the KV cache (0: unset; see `plan`)",
    )
    p.add_argument("--max-tokens-in-paged-kv-cache", type=int, default=None)
    p.add_argument(
        "--enable-kv-cache-reuse",
        type=_bool,
        default=None,
        metavar="BOOL",
        help="default: true when the engine has paged context FMHA (not int8_kv)",
    )
    p.add_argument(
        "--enable-chunked-context",
        type=_bool,
        default=None,
        metavar="BOOL",
        help="default: true when the engine has paged context FMHA (not int8_kv)",
    )
    p.add_argument(
        "--batch-scheduler-policy",
        default="guaranteed_no_evict",
        choices=("guaranteed_no_evict", "max_utilization"),
    )
    p.add_argument("--exclude-input-in-output", type=_bool, default=True, metavar="BOOL")
    p.add_argument("--max-beam-width", type=int, default=1)
    p.add_argument("--decoupled", type=_bool, default=True, metavar="BOOL")
    p.add_argument("--streaming", type=_bool, default=True, metavar="BOOL", help="clients stream tokens")
    p.add_argument("--max-prompt-len", type=int, default=None, help="default: the engine's max_input_len")
    p.add_argument("--max-tokens", type=int, default=None, help="largest max_tokens served")
    p.add_argument("--cancellation-check-period-ms", type=int, default=100)
    p.add_argument("--stats-check-period-ms", type=int, default=100)
    p.add_argument(
        "--repo-mount-path",
        default=None,
        help="the output dir's path as tritonserver will see it (in the container, the pod): the engine's "
        "paths are written for it (default: the Helm chart's /models/repository)",
    )
    p.add_argument("--target-sm", type=int, default=None, help="serving GPU's SM (default: this machine's)")
    p.add_argument("--target-trtllm-version", default=None, help="serving TensorRT-LLM (default: installed)")
    p.add_argument(
        "--precision",
        choices=recipes.PRECISIONS,
        default="fp16",
        help="with --dry-run and no engine yet: the planned precision",
    )
    p.add_argument("--tp", type=int, default=1, help="with --dry-run and no engine yet: the planned TP")
    p.add_argument("--pp", type=int, default=1, help="with --dry-run and no engine yet: the planned PP")
    _engine_shape_args(p, "; used with --dry-run when the engine is not built yet")
    _gather_logits_arg(p, "with --dry-run and no engine yet: the logits the planned engine gathers")
    _lookahead_arg(
        p,
        "lookahead sizes to run (default: those the engine was built for, from its manifest); "
        "with --dry-run and no engine yet: the planned lookahead engine",
    )
    lora_arguments.add_cache_args(p)
    lora_arguments.add_build_args(p, "; with --dry-run and no engine yet: the planned engine's")
    p.add_argument("--dry-run", action="store_true", help="check and print what would be written")
    return p


def add_launch(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "launch",
        help="start tritonserver on TP×PP GPUs under mpirun",
        description="One tritonserver per rank under mpirun; rank 0 serves HTTP/gRPC/metrics.",
    )
    p.add_argument("--model-repo", type=Path, required=True)
    p.add_argument("--tp", type=int, default=None, help="default: from the repository's manifest")
    p.add_argument("--pp", type=int, default=None, help="default: from the repository's manifest")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--tritonserver", default="tritonserver")
    p.add_argument("--mpirun", default="mpirun")
    p.add_argument("--dry-run", action="store_true", help="print the full command line and exit")
    return p
