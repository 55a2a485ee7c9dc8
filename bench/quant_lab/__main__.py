"""`make quant-lab`: every ONNX variant (fp32, int8, int4 and the lab's recipes) measured in one run —
quality against FP32 PyTorch, speed through our engine, memory — plus the GPU recipes from the
planner; writes results/quant-lab/<run>/report.{md,json} and plots.

Builds what is missing (each recipe's export and its quality gate, as `make export` would, but a
variant failing its gate is reported, not fatal: showing where recipes fail is the lab's point).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import asdict
from pathlib import Path

from build_engines import checkpoint
from build_engines.onnx import export, quality, reference
from build_engines.onnx.recipes import RECIPES

from . import gpu, gpu_pytorch, report, speed

ROOT = Path(__file__).resolve().parents[2]
SPEEDS = ("prefill_tok_s", "decode_1_tok_s", "decode_16_tok_s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quant_lab", description=__doc__)
    parser.add_argument(
        "--recipes",
        nargs="+",
        choices=list(RECIPES),
        default=list(RECIPES),
        help="variants to measure (fp32 is always included: ratios are to it)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="speed rounds, interleaved across variants")
    parser.add_argument("--model", default=None)
    parser.add_argument("--work-dir", type=Path, default=ROOT / "artifacts")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "quant-lab")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    names = ["fp32", *[n for n in args.recipes if n != "fp32"]]

    ckpt = checkpoint.resolve(args.model, args.work_dir)
    work = args.work_dir / "exports" / ckpt.name
    print(f"[quant-lab] PyTorch FP32 reference on the shipped data ({ckpt})", flush=True)
    pytorch = reference.Reference.compute(ckpt)
    variants = {}
    for name in names:
        onnx_dir = export.export(ckpt, work, name)
        report_ = quality.measure_against(pytorch, onnx_dir, name)
        quality.record(onnx_dir, report_)
        variants[name] = {
            "variant": name,
            "summary": RECIPES[name].summary,
            "recipe": RECIPES[name].as_dict(),
            "onnx_dir": str(onnx_dir),
            "quality": report_.as_dict(),
            "gate_problems": quality.problems(report_),
        }

    text_ids = pytorch.tokenizer.encode(
        (reference.DATA / "heldout.txt").read_text(), add_special_tokens=False
    )
    rounds: dict[str, list[speed.Speed]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names:
            rounds[name].append(speed.measure(Path(variants[name]["onnx_dir"]), text_ids))
            print(f"[quant-lab] round {r + 1}/{args.rounds} {name}: {rounds[name][-1]}", flush=True)
    for name, v in variants.items():
        v["speed"] = {k: statistics.median(getattr(s, k) for s in rounds[name]) for k in SPEEDS}
        v["speed_rounds"] = [asdict(s) for s in rounds[name]]
        # The ratio of each round (variants measured minutes apart) is steadier than a ratio of medians.
        v["ratios"] = {
            k: statistics.median(
                getattr(s, k) / getattr(f, k) for s, f in zip(rounds[name], rounds["fp32"], strict=True)
            )
            for k in SPEEDS
        }
        v["disk_bytes"] = speed.disk_bytes(Path(v["onnx_dir"]))
        v["resident_bytes"] = speed.resident_bytes(Path(v["onnx_dir"]))

    run_name = time.strftime("%Y%m%d-%H%M%S")
    run = {
        "run": run_name,
        "rounds": args.rounds,
        "checkpoint": str(ckpt),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        "variants": list(variants.values()),
        # both GPU paths: TensorRT engines (gpu:*) and the LLM API on ModelOpt checkpoints (gpu-pytorch:*)
        "gpu": gpu.rows(ckpt) + gpu_pytorch.rows(ckpt),
    }
    out = args.out / run_name
    report.write(run, out)
    print((out / "report.md").read_text(), flush=True)
    print(f"[quant-lab] wrote {out}/report.md and report.json", flush=True)


if __name__ == "__main__":
    main()
