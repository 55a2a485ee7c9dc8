"""LoRA subcommands for `python -m build_engines`: export-lora (the LoRA-capable export beside a
plain one) and make-test-adapters (PEFT adapters made from the bundled model)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import checkpoint, manifest
from ..onnx import export, quality
from ..onnx.cli import DEFAULT_WORK_DIR
from .adapters import TEST_ADAPTERS, make_test_adapters
from .export import artifact_dir, export_lora
from .speed import measure, report


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="HF checkpoint directory, or 'smollm2' (the default)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="checkpoints and exports (default: artifacts/)",
    )


def cmd_export_lora(args) -> None:
    ckpt = checkpoint.resolve(args.model, args.work_dir)
    # The plain export first (built and verified as `export` does, or reused), then its LoRA copy.
    base = export.export(ckpt, args.work_dir / "exports" / ckpt.name, args.precision)
    if "quality" not in manifest.read(base):
        quality.verify(ckpt, base, args.precision)
    print(export_lora(ckpt, base, force=args.force))


def cmd_make_test_adapters(args) -> None:
    ckpt = checkpoint.resolve(args.model, args.work_dir)
    for path in make_test_adapters(ckpt, args.output):
        print(path)


def cmd_lora_speed(args) -> None:
    ckpt = checkpoint.resolve(args.model, args.work_dir)
    plain = args.work_dir / "exports" / ckpt.name / f"onnx-{args.precision}"
    lora = export_lora(ckpt, plain) if args.derive else artifact_dir(plain)
    names = [p for p in args.adapters.iterdir() if p.is_dir()]
    print(f"[lora-speed] {args.rows} rows at position {args.position}, {args.calls} calls each, {lora}")
    medians = measure(
        plain,
        lora,
        args.adapters,
        rows=args.rows,
        position=args.position,
        calls=args.calls,
        max_lora_rank=args.max_lora_rank,
        intra_op_threads=args.threads,
    )
    print(report(medians, len(names)))


def register(sub) -> None:
    p = sub.add_parser(
        "export-lora",
        help="build onnx-<precision>-lora beside the plain export: per-row LoRA adapters as inputs",
    )
    _model_args(p)
    p.add_argument("--precision", choices=sorted(export.PRECISIONS), default="fp32")
    p.add_argument("--force", action="store_true", help="derive it again even if up to date")
    p.set_defaults(func=cmd_export_lora)

    p = sub.add_parser(
        "make-test-adapters",
        help=f"write the test LoRA adapters ({', '.join(r.name for r in TEST_ADAPTERS)}) made from the model",
    )
    _model_args(p)
    p.add_argument("--output", type=Path, required=True, help="directory to write the adapters into")
    p.set_defaults(func=cmd_make_test_adapters)

    p = sub.add_parser(
        "lora-speed",
        help="median decode-call time: plain export, LoRA export without adapters, with the given adapters",
    )
    _model_args(p)
    p.add_argument("--precision", choices=sorted(export.PRECISIONS), default="fp32")
    p.add_argument("--adapters", type=Path, required=True, help="PEFT adapters, one per sub-directory")
    p.add_argument("--rows", type=int, default=16, help="sequences decoded per call (default 16)")
    p.add_argument("--position", type=int, default=120, help="their position (default 120)")
    p.add_argument("--calls", type=int, default=20, help="calls per runner (default 20)")
    p.add_argument("--max-lora-rank", type=int, default=16)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: one per core)")
    p.add_argument("--derive", action="store_true", help="derive the LoRA export first if it is out of date")
    p.set_defaults(func=cmd_lora_speed)
