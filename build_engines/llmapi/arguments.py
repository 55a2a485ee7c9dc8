"""Command-line arguments of the PyTorch path's commands (handlers: cli.py).

`gpu-repo` and `emulate-gpu-repo` take `--gpu-engine {trt,pytorch}` (default trt, the engine path
unchanged); with pytorch they are parsed here, since the two paths take different inputs (an engine
directory vs. a checkpoint). The defaults are the typed configs' own (settings.py, repository.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..trtllm.recipes import GATHER_LOGITS
from . import lora, speculative
from .checkpoint_facts import PRECISIONS, REFUSED
from .memory_check import GPU_NAMES
from .settings import GUIDED_DECODING_BACKENDS, KvCacheSettings

GPU_ENGINES = ("trt", "pytorch")
ENGINE_HELP = (
    "trt: TensorRT engines under the C++ tensorrtllm backend (default); pytorch: TensorRT-LLM's LLM API "
    "(PyTorch backend) on the HF checkpoint, no engine build (python -m build_engines gpu-repo "
    "--gpu-engine pytorch --help)"
)


def add_engine_switch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu-engine", choices=GPU_ENGINES, default="trt", help=ENGINE_HELP)


def selected_engine(argv: list[str]) -> str:
    """--gpu-engine's value in argv (trt when absent), read before the subcommand's own parser."""
    # No abbreviations: the PyTorch path's --gpu must not read as --gpu-engine.
    probe = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    probe.add_argument("--gpu-engine", choices=GPU_ENGINES, default="trt")
    known, _ = probe.parse_known_args(argv)
    return known.gpu_engine


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _speculative(text: str):
    try:
        return speculative.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_llm_args(p: argparse.ArgumentParser) -> None:
    """The LLM API's arguments (model.yaml): limits, parallelism, KV cache, CUDA graphs, speculation."""
    kv = KvCacheSettings()
    p.add_argument("--tp", type=int, default=1, help="tensor_parallel_size (the LLM API's own workers)")
    p.add_argument("--pp", type=int, default=1, help="pipeline_parallel_size")
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--max-num-tokens", type=int, default=8192, help="tokens per iteration")
    p.add_argument("--max-seq-len", type=int, default=None, help="default: min(4096, model context)")
    p.add_argument("--max-input-len", type=int, default=None, help="default: max_seq_len - 1")
    p.add_argument(
        "--gather-logits", choices=GATHER_LOGITS, default="none", help="logits clients may ask for"
    )
    p.add_argument(
        "--kv-cache-free-gpu-memory-fraction",
        type=float,
        default=kv.free_gpu_memory_fraction,
        help="kv_cache_config.free_gpu_memory_fraction: share of the memory free after the weights",
    )
    p.add_argument("--kv-cache-max-tokens", type=int, default=None, help="kv_cache_config.max_tokens")
    p.add_argument("--enable-block-reuse", type=_bool, default=kv.enable_block_reuse, metavar="BOOL")
    p.add_argument(
        "--host-cache-size", type=int, default=None, help="bytes of host memory for offloaded blocks"
    )
    p.add_argument("--kv-cache-dtype", choices=("auto", "fp8"), default=kv.dtype)
    p.add_argument(
        "--cuda-graphs", type=_bool, default=True, metavar="BOOL", help="cuda_graph_config (null: off)"
    )
    p.add_argument("--cuda-graph-max-batch-size", type=int, default=0, help="0: upstream's sizes up to 128")
    p.add_argument("--cuda-graph-padding", type=_bool, default=False, metavar="BOOL")
    p.add_argument(
        "--speculative",
        type=_speculative,
        default=None,
        metavar="TYPE:k=v,...",
        help=f"speculative_config, TYPE one of {', '.join(speculative.KINDS)}, "
        "e.g. NGram:max_draft_len=4,max_matching_ngram_size=2",
    )
    p.add_argument(
        "--guided-decoding-backend", choices=(*GUIDED_DECODING_BACKENDS, "none"), default="xgrammar"
    )


def add_repo_args(p: argparse.ArgumentParser) -> None:
    """Where the repository and the checkpoint are seen, and the engine model's Triton settings."""
    p.add_argument(
        "--repo-mount-path",
        default=None,
        help="the output dir's path as tritonserver will see it "
        "(default: the Helm chart's /models/repository)",
    )
    p.add_argument(
        "--checkpoint-path",
        default=None,
        help="the checkpoint's path as the server sees it, e.g. a PVC mount "
        "(default: <repo-mount-path>/engine/1/checkpoint)",
    )
    p.add_argument("--max-queue-size", type=int, default=256)
    p.add_argument("--max-queue-delay-us", type=int, default=0)
    p.add_argument("--gpu-device-ids", default="", help='one instance per ";"-separated set, e.g. "0,1;2,3"')
    p.add_argument("--cancellation-check-period-ms", type=int, default=100)
    p.add_argument("--stats-check-period-ms", type=int, default=100)


def add_lora_args(p: argparse.ArgumentParser) -> None:
    """LoRA adapters by request name (build_engines/llmapi/lora.py): off unless --lora-dir is given."""
    p.add_argument(
        "--lora-dir",
        default="",
        help="the adapter directory (LORA_DIR: one PEFT adapter per sub-directory) as the server sees it; "
        "turns LoRA on",
    )
    p.add_argument("--max-loras", type=int, default=lora.MAX_LORAS, help="lora_config.max_loras")
    p.add_argument("--max-lora-rank", type=int, default=lora.MAX_LORA_RANK, help="lora_config.max_lora_rank")
    p.add_argument(
        "--max-cpu-loras", type=int, default=None, help="lora_config.max_cpu_loras (default: max-loras)"
    )
    p.add_argument(
        "--lora-target-modules",
        nargs="+",
        default=list(lora.PEFT_MODULES),
        metavar="PEFT_MODULE",
        help="modules adapters may target, PEFT's names (written as TensorRT-LLM's)",
    )


def lora_settings(args) -> lora.LoraSettings:
    return lora.LoraSettings(
        max_loras=args.max_loras,
        max_lora_rank=args.max_lora_rank,
        max_cpu_loras=args.max_cpu_loras,
        target_modules=tuple(args.lora_target_modules),
    )


def gpu_repo_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m build_engines gpu-repo --gpu-engine pytorch",
        description="The GPU model repository for TensorRT-LLM's LLM API (PyTorch backend) from an HF "
        "or ModelOpt checkpoint: no engine build (build_engines/llmapi/repository.py).",
    )
    p.add_argument("command", choices=("gpu-repo",))
    add_engine_switch(p)
    p.add_argument("--checkpoint", type=Path, required=True, help="HF / ModelOpt checkpoint directory")
    p.add_argument("--output", type=Path, required=True)
    p.add_argument(
        "--precision",
        default="fp16",
        help=f"what the checkpoint holds: {', '.join(PRECISIONS)} ({', '.join(REFUSED)} is refused)",
    )
    p.add_argument(
        "--bundle-checkpoint", action="store_true", help="link the checkpoint into OUTPUT/engine/1/checkpoint"
    )
    p.add_argument(
        "--gpu",
        type=str.upper,
        choices=GPU_NAMES,
        default=None,
        help="the serving GPU: refuse settings whose KV cache cannot hold one max_seq_len sequence there",
    )
    add_llm_args(p)
    add_repo_args(p)
    add_lora_args(p)
    p.add_argument(
        "--dry-run", action="store_true", help="check and print what would be written, with sources"
    )
    return p


def emulate_parser(defaults) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m build_engines emulate-gpu-repo --gpu-engine pytorch",
        description="The PyTorch-path GPU repository as gpu-repo writes it, served on the CPU by the "
        "LLM-API stand-in (build_engines/llmapi/emulated.py).",
    )
    p.add_argument("command", choices=("emulate-gpu-repo",))
    add_engine_switch(p)
    p.add_argument(
        "--model", default=None, help="HF checkpoint directory or 'smollm2' (default: the bundled model)"
    )
    p.add_argument(
        "--precision", choices=("fp32", "int8"), default="fp32", help="ONNX export the stand-in runs"
    )
    p.add_argument("--work-dir", type=Path, default=Path("artifacts"), help="checkpoints and exports cache")
    p.add_argument("--output", type=Path, default=Path("build/emulated_pytorch_repository"))
    p.add_argument(
        "--repo-mount-path",
        default=None,
        help="the output dir's path as the server will see it (default: the output dir, served in place)",
    )
    p.add_argument("--max-batch-size", type=int, default=defaults.max_batch_size)
    p.add_argument("--max-seq-len", type=int, default=defaults.max_seq_len)
    p.add_argument("--max-input-len", type=int, default=None, help="default: --max-seq-len - 1")
    p.add_argument("--max-num-tokens", type=int, default=defaults.max_num_tokens)
    add_lora_args(p)
    return p
