"""`python -m build_engines capacity` (and `make plan`): predicted throughput, latency, GPUs and cost.

`python -m build_engines.capacity calibration` prints the published-point table of docs/CAPACITY.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

from . import calibration, cost, llmapi_memory, report
from .gpus import GPUS, gpu
from .layouts import HEADROOM, Target, search, size
from .memory import PRECISIONS, load_shape, precision
from .predict import predict
from .roofline import Layout, Workload

DEFAULT_OUTPUT = Path("results/plan")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="HF config.json or checkpoint directory")
    p.add_argument("--gpu", default="H100", type=str.upper, choices=sorted(GPUS))
    p.add_argument("--precision", default="fp8", choices=sorted(PRECISIONS))
    p.add_argument("--isl", type=int, default=128, help="input tokens per request")
    p.add_argument("--osl", type=int, default=128, help="output tokens per request")
    p.add_argument("--engine", default="trt", choices=("trt", "pytorch"), help="GPU_ENGINE: what builds it")
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--pp", type=int, default=1)
    p.add_argument(
        "--kv-fraction",
        type=float,
        default=0.9,
        help="--engine pytorch: kv_cache_config.free_gpu_memory_fraction (llmapi_memory.py)",
    )
    p.add_argument(
        "--kv-max-tokens", type=int, default=None, help="--engine pytorch: kv_cache_config.max_tokens"
    )
    load = p.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=int, default=None, help="requests in flight per replica")
    load.add_argument("--rate", type=float, default=None, help="target requests/s for the whole service")
    p.add_argument("--slo-ttft-p99", type=float, default=None, help="seconds")
    p.add_argument("--slo-tpot-p99", type=float, default=None, help="seconds (0.05 = 50 ms)")
    p.add_argument("--headroom", type=float, default=HEADROOM, help="share of capacity to plan for")
    p.add_argument("--prices", type=Path, default=None, help="price table YAML (prices.example.yaml)")
    p.add_argument("--instance", default=None, help="row of the price table to price with")
    p.add_argument("--no-aic", action="store_true", help="roofline even when AICONFIGURATOR_PYTHON is set")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="writes <output>/<run>/, latest.json")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "capacity",
        help="predicted throughput, latency, GPUs and $/1M tokens for a deployment (docs/CAPACITY.md)",
        description=__doc__,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def _price(args) -> cost.PriceRow | None:
    if args.prices is None:
        if args.instance:
            raise ValueError("--instance needs --prices")
        return None
    if not args.instance:
        raise ValueError("--prices needs --instance (a row of the table)")
    return cost.pick(cost.load_prices(args.prices), args.instance)


def _break_even(args, price: cost.PriceRow | None) -> dict | None:
    if price is None:
        return None
    rows = [r for r in cost.load_prices(args.prices).values() if r.gpu == price.gpu]
    if price.kind == "on_prem":
        clouds = [r for r in rows if r.kind == "on_demand"]
        prem = price
        cloud = min(clouds, key=lambda r: r.usd_per_gpu_hour) if clouds else None
    else:
        prems = [r for r in rows if r.kind == "on_prem"]
        cloud = price
        prem = prems[0] if prems else None
    if cloud is None or prem is None:
        return None
    return {
        "cloud": cloud.instance,
        "on_prem": prem.instance,
        "months": cost.break_even_months(cloud, prem),
        "illustrative": cloud.illustrative or prem.illustrative,
    }


def run(args) -> int:
    spec = gpu(args.gpu)
    prec = precision(args.precision)
    if args.engine not in prec.engines:
        raise ValueError(
            f"{prec.name} is not built by the {args.engine} engine (only {', '.join(prec.engines)})"
        )
    price = _price(args)
    if price is not None and price.gpu not in (args.gpu, "cpu"):
        raise ValueError(f"instance {price.instance} has {price.gpu} GPUs, the plan is for {args.gpu}")
    shape = load_shape(args.checkpoint)
    work = Workload(isl=args.isl, osl=args.osl)
    target = Target(
        requests_s=args.rate,
        concurrency=args.concurrency,
        slo_ttft_s=args.slo_ttft_p99,
        slo_tpot_s=args.slo_tpot_p99,
        headroom=args.headroom,
    )
    layout = Layout(precision=prec, tp=args.tp, pp=args.pp)
    pred = predict(
        shape=shape,
        config=args.checkpoint,
        gpu_key=args.gpu,
        gpu=spec,
        layout=layout,
        work=work,
        extra_concurrency=args.concurrency,
        use_aic=not args.no_aic,
    )
    ranked = search(
        shape=shape,
        config=args.checkpoint,
        gpu_key=args.gpu,
        gpu=spec,
        work=work,
        target=target,
        engine=args.engine,
        usd_per_gpu_hour=price.usd_per_gpu_hour if price else None,
    )
    request = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}
    doc = report.build(
        request=request,
        requested=size(pred, target),
        ranked=ranked,
        target=target,
        price=price,
        break_even=_break_even(args, price),
    )
    if args.engine == "pytorch":
        # The LLM API sizes its cache from KvCacheConfig, not the engine path's fraction of what is left.
        budget = llmapi_memory.kv_budget(
            shape,
            prec,
            spec,
            tp=args.tp,
            pp=args.pp,
            context=args.isl + args.osl,
            free_gpu_memory_fraction=args.kv_fraction,
            max_tokens=args.kv_max_tokens,
        )
        doc["llm_api_kv_cache"] = {**asdict(budget), "lines": llmapi_memory.describe(budget)}
    run_dir = args.output / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.gpu}-{prec.name}-tp{args.tp}pp{args.pp}"
    report.write(doc, run_dir, args.output / "latest.json")
    print(report.markdown(doc))
    for line in doc.get("llm_api_kv_cache", {}).get("lines", []):
        print(line)
    print(f"wrote {run_dir}/plan.json, plan.md, curve.png and {args.output / 'latest.json'}")
    return 0


def calibration_table() -> str:
    results = calibration.checks()
    low, high = calibration.held_out_band(results)
    lines = [
        "| point | role | published tok/s | predicted tok/s | ratio | concurrency | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        tag = calibration.SOURCE_TAGS.get(r.point.source, r.point.source)
        lines.append(
            f"| {r.point.label()} | {r.point.role} | {r.point.output_tok_s:,.2f} | {r.predicted_tok_s:,.0f} "
            f"| {r.ratio:.2f} | {r.concurrency} | {tag} |"
        )
    eff = calibration.FITTED
    lines.append("")
    lines.append(f"e_mem={eff.memory}, e_comp={eff.compute}; held-out ratio band {low:.2f} to {high:.2f}.")
    lines.append("")
    lines += [f"- {tag}: {source}" for source, tag in calibration.SOURCE_TAGS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["calibration"]:
        print(calibration_table())
        return 0
    parser = argparse.ArgumentParser(prog="python -m build_engines.capacity", description=__doc__)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
