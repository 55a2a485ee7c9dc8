"""`python -m build_engines COMMAND`: checkpoint → ONNX / TensorRT-LLM engines → model repository.

CPU commands (run here): checkpoint, export, assemble.
GPU commands (TensorRT-LLM 1.2.x; dry-run here): plan, engine, gpu-repo, launch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import assemble, checkpoint, onnx_export, quality

DEFAULT_WORK_DIR = Path("artifacts")


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="HF checkpoint directory, or 'smollm2' (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR,
                        help="where checkpoints and exports are cached (default: artifacts/)")


def _work_dir(args, checkpoint_dir: Path) -> Path:
    # Exports of a user checkpoint live under its own name, so switching MODEL never reuses
    # another model's artifacts.
    return args.work_dir / "exports" / checkpoint_dir.name


def cmd_checkpoint(args) -> None:
    path = checkpoint.resolve(args.model, args.work_dir)
    print(path)


def _export(args, precision: str) -> tuple[Path, Path]:
    ckpt = checkpoint.resolve(args.model, args.work_dir)
    onnx_dir = onnx_export.export(ckpt, _work_dir(args, ckpt), precision, force=getattr(args, "force", False))
    if "quality" not in onnx_export.manifest.read(onnx_dir):
        quality.verify(ckpt, onnx_dir, precision)
    else:
        quality.check(quality.QualityReport(**{k: v for k, v in onnx_export.manifest.read(onnx_dir)["quality"].items()
                                               if k != "perplexity_increase"}))
    return ckpt, onnx_dir


def cmd_export(args) -> None:
    for precision in args.precision:
        _, onnx_dir = _export(args, precision)
        print(onnx_dir)


def cmd_assemble(args) -> None:
    ckpt, onnx_dir = _export(args, args.precision)
    out = assemble.assemble_cpu(args.output, ckpt, onnx_dir, max_context_len=args.max_context_len,
                                max_num_seqs=args.max_num_seqs, max_queue_size=args.max_queue_size)
    print(f"[assemble] model repository ready: {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m build_engines", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("checkpoint", help="resolve/convert the checkpoint to an HF directory and print its path")
    _model_args(p)
    p.set_defaults(func=cmd_checkpoint)

    p = sub.add_parser("export", help="export ONNX decoder(s) and verify them against PyTorch")
    _model_args(p)
    p.add_argument("--precision", nargs="+", choices=sorted(onnx_export.PRECISIONS), default=["fp32"])
    p.add_argument("--force", action="store_true", help="re-export even if an up-to-date artifact exists")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("assemble", help="build (if needed) and assemble the CPU model repository")
    _model_args(p)
    p.add_argument("--precision", choices=sorted(onnx_export.PRECISIONS), default="int8")
    p.add_argument("--output", type=Path, default=Path("build/model_repository"))
    p.add_argument("--max-context-len", type=int, default=2048)
    p.add_argument("--max-num-seqs", type=int, default=16, help="sequences decoded together (KV slots)")
    p.add_argument("--max-queue-size", type=int, default=256,
                   help="requests waiting for a slot; past it requests are rejected with UNAVAILABLE")
    p.set_defaults(func=cmd_assemble)

    try:
        from .trtllm import cli as trtllm_cli
    except ImportError:
        trtllm_cli = None
    if trtllm_cli is not None:
        trtllm_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (checkpoint.CheckpointError, quality.QualityError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
