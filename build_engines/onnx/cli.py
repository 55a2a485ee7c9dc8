"""CPU subcommands for `python -m build_engines`: checkpoint, export, assemble (export precisions:
recipes.SHIPPED, fp32 | int8 | int4, and the OpenVINO variants ov-fp32 | ov-bf16 | ov-int8 of
build_engines/openvino/).

`register(subparsers)` adds them to the main parser; refusals (CheckpointError, QualityError,
FileNotFoundError, ValueError) are printed as `error: ...` with exit 2 by build_engines/__main__.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from python_backend.triton_io.model_configs import AUTO, parse_stream_interval

from .. import checkpoint, manifest
from ..openvino import quality as ov_quality
from ..openvino.repository import assemble_openvino
from ..openvino.variants import VARIANTS as OV_VARIANTS
from . import export, quality, repository

DEFAULT_WORK_DIR = Path("artifacts")
PRECISIONS = (*export.PRECISIONS, *OV_VARIANTS)  # what --precision (and PRECISION=) knows


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help="HF checkpoint directory, or 'smollm2' (default: the bundled SmolLM2-135M-Instruct)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="where checkpoints and exports are cached (default: artifacts/)",
    )


def _work_dir(args, checkpoint_dir: Path) -> Path:
    # Exports of a user checkpoint live under its own name, so switching MODEL never reuses
    # another model's artifacts.
    return args.work_dir / "exports" / checkpoint_dir.name


def cmd_checkpoint(args) -> None:
    path = checkpoint.resolve(args.model, args.work_dir)
    print(path)


def _export(args, precision: str) -> tuple[Path, Path]:
    ckpt = checkpoint.resolve(args.model, args.work_dir)
    if precision in OV_VARIANTS:
        return ckpt, _export_openvino(args, ckpt, precision)
    onnx_dir = export.export(ckpt, _work_dir(args, ckpt), precision, force=getattr(args, "force", False))
    if "quality" not in manifest.read(onnx_dir):
        quality.verify(ckpt, onnx_dir, precision)
    else:
        quality.check(quality.QualityReport.from_dict(manifest.read(onnx_dir)["quality"]))
    return ckpt, onnx_dir


def _export_openvino(args, ckpt: Path, name: str) -> Path:
    force = getattr(args, "force", False)
    return ov_quality.verified(ckpt, _work_dir(args, ckpt), name, force=force)


def cmd_export(args) -> None:
    for precision in args.precision:
        _, onnx_dir = _export(args, precision)
        print(onnx_dir)


def cmd_assemble(args) -> None:
    ckpt, onnx_dir = _export(args, args.precision)
    if args.precision in OV_VARIANTS:
        if args.lora_dir is not None or args.speculative_draft_len:
            raise ValueError(
                f"{args.precision}: the OpenVINO engine serves no LoRA adapters and no speculation"
            )
        out = assemble_openvino(
            args.output,
            ckpt,
            onnx_dir,
            max_seq_len=args.max_seq_len,
            max_num_seqs=args.max_num_seqs,
            max_queue_size=args.max_queue_size,
            stream_interval=args.stream_interval,
        )
        print(f"[assemble] model repository ready: {out}")
        return
    lora_dir = ""
    if args.lora_dir is not None:
        from ..lora.export import export_lora  # LoRA on: the LoRA-capable copy of the export

        onnx_dir = export_lora(ckpt, onnx_dir)
        args.lora_dir.mkdir(parents=True, exist_ok=True)
        lora_dir = str(args.lora_dir.resolve())  # as the server sees it: it runs on this machine
    out = repository.assemble_cpu(
        args.output,
        ckpt,
        onnx_dir,
        max_seq_len=args.max_seq_len,
        max_num_seqs=args.max_num_seqs,
        max_queue_size=args.max_queue_size,
        stream_interval=args.stream_interval,
        speculative_draft_len=args.speculative_draft_len,
        lora_dir=lora_dir,
        max_loras=args.max_loras,
        max_lora_rank=args.max_lora_rank,
    )
    print(f"[assemble] model repository ready: {out}")


def register(sub) -> None:
    p = sub.add_parser(
        "checkpoint", help="resolve/convert the checkpoint to an HF directory and print its path"
    )
    _model_args(p)
    p.set_defaults(func=cmd_checkpoint)

    p = sub.add_parser("export", help="export ONNX decoder(s) and verify them against PyTorch")
    _model_args(p)
    p.add_argument("--precision", nargs="+", choices=sorted(PRECISIONS), default=["fp32"])
    p.add_argument("--force", action="store_true", help="re-export even if an up-to-date artifact exists")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("assemble", help="build (if needed) and assemble the CPU model repository")
    _model_args(p)
    p.add_argument("--precision", choices=sorted(PRECISIONS), default="int8")
    p.add_argument("--output", type=Path, default=Path("build/model_repository"))
    p.add_argument(
        "--max-seq-len",
        "--max-context-len",  # the flag's earlier name, still accepted
        dest="max_seq_len",
        type=int,
        default=2048,
        help="prompt + generated tokens of one sequence (the engine's max_seq_len)",
    )
    p.add_argument("--max-num-seqs", type=int, default=16, help="sequences decoded together (KV slots)")
    p.add_argument(
        "--max-queue-size",
        type=int,
        default=256,
        help="requests waiting for a slot; past it requests are rejected with UNAVAILABLE",
    )
    p.add_argument(
        "--stream-interval",
        type=parse_stream_interval,
        default=AUTO,
        help='streaming: after the first token, "auto" sends what accumulated whenever the response '
        "writer is free (one token per response while it keeps up), N: N tokens per response "
        "(larger: less CPU per token, coarser streams; 1: tensorrtllm_backend's framing)",
    )
    p.add_argument(
        "--speculative-draft-len",
        type=int,
        default=0,
        help="prompt-lookup draft tokens per step for requests that do not set the speculative_draft_len "
        "request parameter (0: off; it turns itself off while more than one sequence decodes)",
    )
    p.add_argument(
        "--lora-dir",
        type=Path,
        default=None,
        help="the LoRA adapter directory (one PEFT adapter per sub-directory, loaded by name on first use; "
        "created if absent); turns LoRA on, over the export-lora copy of the export (default: off)",
    )
    p.add_argument(
        "--max-loras", type=int, default=4, help="LoRA adapters resident at once (with --lora-dir)"
    )
    p.add_argument("--max-lora-rank", type=int, default=16, help="largest LoRA rank served (with --lora-dir)")
    p.set_defaults(func=cmd_assemble)
