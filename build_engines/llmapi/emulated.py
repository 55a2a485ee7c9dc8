"""`emulate-gpu-repo --gpu-engine pytorch`: the PyTorch-path repository exactly as `gpu-repo --gpu-engine
pytorch` writes it, served on the CPU by a stand-in for the `tensorrt_llm` names its engine model imports.

Three steps:
1. `gpu-repo --gpu-engine pytorch` itself, through its own command line (cli.py), with the bundled
   checkpoint (--bundle-checkpoint: engine/1/checkpoint/ holds its HF files, where model.yaml's `model`
   points)
   and the CPU engine's limits (trtllm/emulated.EmulatedLimits: KV slots, context, tokens per step).
2. engine/1/checkpoint/onnx/: the ONNX export the stand-in runs instead of the PyTorch weights (linked, as
   the engine path's emulated repository links it: shared_models.link_tree). With LoRA on (--lora-dir:
   the engine model has a lora_dir) it is the LoRA-capable export derived from that one
   (build_engines/lora/export.py, `python -m build_engines export-lora`), whose adapter slots the
   stand-in's lora_config sizes.
3. engine/1/tensorrt_llm/: a copy of python_backend/llmapi_emulator/tensorrt_llm/, found first on the
   engine model's import path (its version directory) and nowhere else, so the project's own
   environment still has no `tensorrt_llm` (`make engines`' interpreter probe finds none).
Nothing else changes: config.pbtxt, model.py and model.yaml are gpu-repo's. manifest.json records the
emulation under "emulated".
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import manifest, model_config
from ..lora.export import export_lora
from ..shared_models import PYTHON_BACKEND, link_tree, record_tokenizer_class
from ..trtllm.emulated import EmulatedLimits
from . import arguments, gpu_repo
from .repository import CHECKPOINT_SUBDIR

STANDIN = PYTHON_BACKEND / "llmapi_emulator" / "tensorrt_llm"
ONNX_SUBDIR = "onnx"  # inside the bundled checkpoint


def gpu_repo_args(
    checkpoint: Path, output: Path, limits: EmulatedLimits, mount: str, extra: list[str] = ()
) -> list[str]:
    """The `gpu-repo --gpu-engine pytorch` command line the emulated repository is assembled with."""
    return [
        "gpu-repo",
        "--gpu-engine",
        "pytorch",
        "--checkpoint",
        str(checkpoint),
        "--output",
        str(output),
        "--bundle-checkpoint",
        "--repo-mount-path",
        mount,
        "--max-batch-size",
        str(limits.max_batch_size),
        "--max-seq-len",
        str(limits.max_seq_len),
        "--max-input-len",
        str(limits.input_len),
        "--max-num-tokens",
        str(limits.max_num_tokens),
        *extra,
    ]


def lora_on(repo: Path) -> bool:
    """The assembled engine model serves LoRA adapters (its parameter lora_dir is set)."""
    config = model_config.load(repo / "engine" / "config.pbtxt")
    return bool(model_config.get_parameter(config, "lora_dir"))


def lora_args(args) -> list[str]:
    """The emulate parser's LoRA options, passed on to gpu-repo as given (none without --lora-dir)."""
    if not args.lora_dir:
        return []
    out = [
        "--lora-dir",
        args.lora_dir,
        "--max-loras",
        str(args.max_loras),
        "--max-lora-rank",
        str(args.max_lora_rank),
    ]
    if args.max_cpu_loras is not None:
        out += ["--max-cpu-loras", str(args.max_cpu_loras)]
    return out + ["--lora-target-modules", *args.lora_target_modules]


def add_standin(repo: Path, onnx_dir: Path, checkpoint: Path) -> None:
    """engine/1/checkpoint/onnx/ and engine/1/tensorrt_llm/; the manifest says so. The stand-in loads
    the bundled checkpoint's tokenizer at every model load (its guides' vocabulary), as the real LLM
    API does on a GPU; the class it loads as is recorded beside it, as in preprocessing's copy, so
    that load does not ask AutoTokenizer (measured: 1.6 s of CPU against 6 s, through the model's
    config and torch)."""
    link_tree(onnx_dir, repo / CHECKPOINT_SUBDIR / ONNX_SUBDIR)
    record_tokenizer_class(checkpoint, repo / CHECKPOINT_SUBDIR)
    target = repo / "engine" / "1" / "tensorrt_llm"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(STANDIN, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    record = manifest.read(repo)
    record.pop("created_unix", None)
    record["emulated"] = {
        "engine_backend": "python (TensorRT-LLM LLM API stand-in)",
        "tensorrt_llm": "engine/1/tensorrt_llm = python_backend/llmapi_emulator/tensorrt_llm",
        "weights": f"{CHECKPOINT_SUBDIR}/{ONNX_SUBDIR} (ONNX export of the checkpoint, run on the CPU)",
        "onnx_precision": manifest.read(onnx_dir).get("precision"),
    }
    manifest.write(repo, **record)


def assemble_emulated(
    checkpoint: Path,
    onnx_dir: Path,
    output: Path,
    limits: EmulatedLimits,
    repo_mount_path: str | None = None,
    gpu_repo_extra: list[str] = (),
) -> Path:
    """repo_mount_path: where the server will see `output` (None: where it is, served in place);
    gpu_repo_extra: further gpu-repo options (e.g. a test's queue bound)."""
    shutil.rmtree(output, ignore_errors=True)
    mount = repo_mount_path or str(Path(output).resolve())
    gpu_repo.cmd_gpu_repo(gpu_repo_args(checkpoint, output, limits, mount, gpu_repo_extra))
    if lora_on(output):
        onnx_dir = export_lora(checkpoint, onnx_dir)  # reused when already derived from this export
    add_standin(output, onnx_dir, checkpoint)
    return output


def main(argv: list[str]) -> int:
    from .. import checkpoint
    from ..onnx import export, quality

    args = arguments.emulate_parser(EmulatedLimits()).parse_args(argv)
    ckpt = checkpoint.resolve(args.model, args.work_dir)
    onnx_dir = export.export(ckpt, args.work_dir / "exports" / ckpt.name, args.precision)
    if "quality" not in manifest.read(onnx_dir):
        quality.verify(ckpt, onnx_dir, args.precision)
    limits = EmulatedLimits(args.max_batch_size, args.max_seq_len, args.max_input_len, args.max_num_tokens)
    out = assemble_emulated(ckpt, onnx_dir, args.output, limits, args.repo_mount_path, lora_args(args))
    mount = args.repo_mount_path or f"{out.resolve()} (where it is; no --repo-mount-path)"
    print(
        f"[emulate-gpu-repo] PyTorch-path GPU model repository with the LLM-API stand-in ready: {out}, "
        f"assembled for the server to see it at {mount}"
    )
    return 0
