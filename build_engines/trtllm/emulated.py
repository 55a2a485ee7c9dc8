"""`emulate-gpu-repo`: the GPU repository exactly as `gpu-repo` writes it, its engine swapped for the
emulator.

No GPU here, so no TensorRT-LLM engine and no `tensorrtllm` backend. Three steps:
1. `standin_engine`: an engine directory describing the bundled model as trtllm-build would
   (config.json with pretrained_config/build_config; our engine manifest.json), holding the ONNX
   export the emulator runs instead of engine files. Limits come from the ONNX export's shape and
   the CPU limits (max_batch_size = KV slots, max_seq_len = context length).
2. `gpu-repo` itself, run through its own command line (trtllm/cli.py) with only --engine-dir,
   --tokenizer-dir and --output, as `make gpu-repo` runs it: same ensemble, preprocessing and
   postprocessing configs, dynamic batchers, engine config and parameters.
3. `swap_engine_backend`: `engine/config.pbtxt` gets backend "python" and nothing else changes;
   `engine/1/` gets the emulator (model_repository/trtllm_emulator/1/model.py) and python_backend/,
   which holds the backend contract it reads its rules from (python_backend/contract/
   trtllm_backend/). The engine files gpu-repo linked into engine/1/trtllm_engine are the ONNX files.
The repository's manifest.json records the swap under "emulated".
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from python_backend.contract.perf_metrics import TOKENS_PER_BLOCK

from .. import manifest, model_config
from ..lora.export import artifact_dir, export_lora
from ..manifest import EngineManifest
from ..shared_models import PROJECT_ROOT, PYTHON_BACKEND, link_tree
from . import cli, lora_arguments
from .lora import LoraBuild

EMULATOR_MODEL = PROJECT_ROOT / "model_repository" / "trtllm_emulator" / "1" / "model.py"


@dataclass(frozen=True)
class EmulatedLimits:
    """The stand-in engine's build_config: what the GPU repository is assembled against."""

    max_batch_size: int = 16  # = the CPU engine's KV slots (make serve's max_num_seqs)
    max_seq_len: int = 2048  # = the CPU engine's max_seq_len
    max_input_len: int | None = None  # default max_seq_len - 1: the CPU engine's longest prompt
    max_num_tokens: int = 512  # tokens per engine step (the CPU engine's max_num_batched_tokens)

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_seq_len", "max_num_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_seq_len < 2:
            raise ValueError(f"max_seq_len must be >= 2, got {self.max_seq_len}")
        if not 1 <= self.input_len < self.max_seq_len:
            raise ValueError(
                f"max_input_len must be in [1, max_seq_len={self.max_seq_len}), got {self.input_len}"
            )

    @property
    def input_len(self) -> int:
        return self.max_input_len if self.max_input_len is not None else self.max_seq_len - 1


def engine_config_json(onnx_dir: Path, limits: EmulatedLimits, lora: LoraBuild | None = None) -> dict:
    """trtllm-build's config.json layout, from the ONNX export's genai_config.json; with `lora`, the
    LoRA plugin's record as trtllm-build writes it (lora.py EngineLora reads it back)."""
    model = json.loads((onnx_dir / "genai_config.json").read_text())["model"]
    decoder = model["decoder"]
    if limits.max_seq_len > model["context_length"]:
        raise ValueError(
            f"max_seq_len {limits.max_seq_len} is above the model's context length "
            f"{model['context_length']} ({onnx_dir / 'genai_config.json'})"
        )
    config = {
        "version": "emulated (ONNX export, no TensorRT-LLM build)",
        "pretrained_config": {
            "architecture": f"{model['type'].capitalize()}ForCausalLM",
            "dtype": "float32",
            "vocab_size": model["vocab_size"],
            "hidden_size": decoder["hidden_size"],
            "num_hidden_layers": decoder["num_hidden_layers"],
            "num_attention_heads": decoder["num_attention_heads"],
            "num_key_value_heads": decoder["num_key_value_heads"],
            "head_size": decoder["head_size"],
            "max_position_embeddings": model["context_length"],
            "mapping": {"world_size": 1, "tp_size": 1, "pp_size": 1},
        },
        "build_config": {
            "max_batch_size": limits.max_batch_size,
            "max_input_len": limits.input_len,
            "max_seq_len": limits.max_seq_len,
            "max_num_tokens": limits.max_num_tokens,
            "max_beam_width": 1,
            "kv_cache_type": "PAGED",
            "plugin_config": {
                "use_paged_context_fmha": True,
                "paged_kv_cache": True,
                "context_fmha": True,
                "remove_input_padding": True,
                "tokens_per_block": TOKENS_PER_BLOCK,
            },
        },
    }
    if lora is not None:
        build = config["build_config"]
        build["plugin_config"]["lora_plugin"] = "float16"  # the dtype lora_weights arrive in
        build["lora_config"] = {
            "max_lora_rank": lora.max_lora_rank,
            "lora_target_modules": list(lora.target_modules),
        }
    return config


def standin_engine(
    onnx_dir: Path, target: Path, limits: EmulatedLimits, lora: LoraBuild | None = None
) -> Path:
    """Write the stand-in engine directory (ONNX files linked, not copied) and return it."""
    onnx_manifest = manifest.read(onnx_dir)
    link_tree(onnx_dir, target)
    (target / manifest.MANIFEST_NAME).unlink()  # the engine manifest below takes its place
    (target / "onnx_manifest.json").write_text(json.dumps(onnx_manifest, indent=2, sort_keys=True) + "\n")
    (target / "config.json").write_text(
        json.dumps(engine_config_json(onnx_dir, limits, lora), indent=2) + "\n"
    )
    EngineManifest(
        precision=f"emulated-onnx-{onnx_manifest['precision']}",
        dtype="float32",
        tp=1,
        pp=1,
        max_batch_size=limits.max_batch_size,
        max_input_len=limits.input_len,
        max_seq_len=limits.max_seq_len,
        max_num_tokens=limits.max_num_tokens,
        use_paged_context_fmha=True,
        kv_cache_type="paged",
        build_flags={},
        commands=[],
        checkpoint=str(onnx_manifest.get("checkpoint")),
        checkpoint_sha256=str(onnx_manifest.get("checkpoint_sha256")),
        trtllm_version=None,
        tensorrt_version=None,
        gpu_name=None,
        gpu_sm=None,
    ).save(target)
    return target


def run_gpu_repo(engine_dir: Path, tokenizer_dir: Path, output: Path, extra_args: list[str] = ()) -> None:
    """`python -m build_engines gpu-repo` itself, with the arguments `make gpu-repo` passes."""
    parser = argparse.ArgumentParser(prog="gpu-repo")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        [
            "gpu-repo",
            "--engine-dir",
            str(engine_dir),
            "--tokenizer-dir",
            str(tokenizer_dir),
            "--output",
            str(output),
            *extra_args,
        ]
    )
    args.func(args)


def _copy_emulator(version_dir: Path) -> None:
    shutil.copy2(EMULATOR_MODEL, version_dir / "model.py")
    code = version_dir / "python_backend"
    shutil.rmtree(code, ignore_errors=True)
    shutil.copytree(PYTHON_BACKEND, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def swap_engine_backend(repo: Path) -> None:
    """Change only the engine's backend (tensorrtllm → python) and give it the emulator's code."""
    path = repo / "engine" / "config.pbtxt"
    config = model_config.load(path)
    if config.backend != "tensorrtllm":
        raise ValueError(f"{path}: backend is {config.backend!r}, expected 'tensorrtllm' (a gpu-repo output)")
    config.backend = "python"
    _copy_emulator(repo / "engine" / "1")
    model_config.save(config, path)
    record = manifest.read(repo)
    record.pop("created_unix", None)
    record["engine"] = {**record.get("engine", {}), "backend": "python"}
    record["emulated"] = {
        "engine_backend": "python (TensorRT-LLM backend emulator)",
        "was": "tensorrtllm",
        "emulator": "python_backend/trtllm_emulator",
        "contract": "python_backend/contract/trtllm_backend",
    }
    manifest.write(repo, **record)


def assemble_emulated(
    onnx_dir: Path,
    tokenizer_dir: Path,
    output: Path,
    limits: EmulatedLimits,
    engine_dir: Path | None = None,
    gpu_repo_args: list[str] = (),
    repo_mount_path: str | None = None,
    lora: LoraBuild | None = None,
) -> Path:
    """repo_mount_path: where the server will see `output` (None: where it is, served in place). The
    engine model's paths are under it; the ONNX files the emulator runs are linked into the repository
    (engine/1/trtllm_engine, as gpu-repo links an engine), so nothing points outside it. lora: the
    stand-in engine has the LoRA plugin and runs the LoRA export beside `onnx_dir` (built from the
    checkpoint, `tokenizer_dir`, when missing: python -m build_engines export-lora)."""
    engine_dir = engine_dir or output.parent / f"{output.name}_engine"
    if lora is not None:
        onnx_dir = (
            export_lora(tokenizer_dir, onnx_dir)
            if not artifact_dir(onnx_dir).is_dir()
            else artifact_dir(onnx_dir)
        )
    standin_engine(onnx_dir, engine_dir, limits, lora)
    shutil.rmtree(output, ignore_errors=True)
    mount = ["--repo-mount-path", repo_mount_path or str(Path(output).resolve())]
    run_gpu_repo(engine_dir, tokenizer_dir, output, [*mount, *gpu_repo_args])
    swap_engine_backend(output)
    return output


def cmd_emulate_gpu_repo(args) -> None:
    from .. import checkpoint
    from ..onnx import export, quality

    ckpt = checkpoint.resolve(args.model, args.work_dir)
    onnx_dir = export.export(ckpt, args.work_dir / "exports" / ckpt.name, args.precision)
    if "quality" not in manifest.read(onnx_dir):
        quality.verify(ckpt, onnx_dir, args.precision)
    limits = EmulatedLimits(args.max_batch_size, args.max_seq_len, args.max_input_len, args.max_num_tokens)
    cache = lora_arguments.cache_request_from_args(args)
    gpu_repo_args = [
        *(["--lora-dir", cache.lora_dir] if cache.lora_dir else []),
        *(
            ["--lora-cache-host-memory-bytes", str(cache.host_memory_bytes)]
            if cache.host_memory_bytes
            else []
        ),
        *(
            ["--lora-cache-gpu-memory-fraction", str(cache.gpu_memory_fraction)]
            if cache.gpu_memory_fraction
            else []
        ),
    ]
    out = assemble_emulated(
        onnx_dir,
        ckpt,
        args.output,
        limits,
        args.engine_dir,
        gpu_repo_args,
        repo_mount_path=args.repo_mount_path,
        lora=lora_arguments.build_from_args(args),
    )
    mount = args.repo_mount_path or f"{out.resolve()} (where it is; no --repo-mount-path)"
    print(
        f"[emulate-gpu-repo] GPU model repository with the emulated tensorrtllm backend ready: {out}, "
        f"assembled for the server to see it at {mount}"
    )


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "emulate-gpu-repo",
        help="the GPU repository (gpu-repo) with its engine backend emulated on the CPU",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", default=None, help="HF checkpoint directory or 'smollm2' (default: the bundled model)"
    )
    p.add_argument(
        "--precision", choices=("fp32", "int8"), default="fp32", help="ONNX export the emulator runs"
    )
    p.add_argument("--work-dir", type=Path, default=Path("artifacts"), help="checkpoints and exports cache")
    p.add_argument("--output", type=Path, default=Path("build/emulated_gpu_repository"))
    p.add_argument(
        "--repo-mount-path",
        default=None,
        help="the output dir's path as the server will see it, as for gpu-repo (default: the output "
        "dir itself, served in place)",
    )
    p.add_argument(
        "--engine-dir", type=Path, default=None, help="stand-in engine dir (default: OUTPUT_engine)"
    )
    defaults = EmulatedLimits()
    p.add_argument("--max-batch-size", type=int, default=defaults.max_batch_size)
    p.add_argument("--max-seq-len", type=int, default=defaults.max_seq_len)
    p.add_argument("--max-input-len", type=int, default=None, help="default: --max-seq-len - 1")
    p.add_argument("--max-num-tokens", type=int, default=defaults.max_num_tokens)
    lora_arguments.add_build_args(p, "; the stand-in runs the LoRA export (export-lora)")
    lora_arguments.add_cache_args(p)
    p.set_defaults(func=cmd_emulate_gpu_repo)
