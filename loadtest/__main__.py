"""`python -m loadtest run|compare`: bounded headless Locust load tests against a local server.

  run      one load profile against a running server → results/loadtest/<run>/
           (samples.csv, summary.json, report.md, latency_cdf.png, throughput.png, ttft_vs_load.png,
           Locust's own locust_*.csv and locust.html). Exit status: 0 ok, 1 an SLO given with --slo
           missed, 2 bad arguments, 3 no request succeeded.
  compare  assemble and serve two variants in turn (e.g. fp32 vs int8), the same profile on each,
           plus quality → one side-by-side report with a recommendation and rollback triggers.

Examples:
  python -m loadtest run --duration 45s --users 8 --protocol grpc
  python -m loadtest run --duration 60s --rate 2 --protocol http --slo ttft=0.5 tpot=0.05
  python -m loadtest run --ramp 0.5:3:0.5 --stage-duration 20 --slo ttft=1 tpot=0.08
  python -m loadtest compare --a fp32 --b int8 --duration 45s
"""

from __future__ import annotations

import argparse
import sys

from . import metrics
from .run import RunConfig, parse_duration


def _load_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("load profile")
    g.add_argument("--duration", default="45s", help="load duration, e.g. 45s, 2m (default 45s)")
    g.add_argument(
        "--users",
        type=int,
        default=None,
        help="closed loop: concurrent users (default 8); open loop: max requests in flight (default 32)",
    )
    g.add_argument("--rate", type=float, default=None, help="open loop: Poisson arrivals, requests/s")
    g.add_argument(
        "--ramp", default=None, help="open-loop ramp START:STOP:STEP or R1,R2,... req/s (needs --slo)"
    )
    g.add_argument("--stage-duration", default="20s", help="seconds per ramp stage (default 20s)")
    g.add_argument(
        "--slo",
        nargs="*",
        default=[],
        metavar="NAME=SECONDS",
        help="per-request limits: ttft=0.5 tpot=0.05 e2e=10 (seconds, or e.g. 500ms)",
    )
    g.add_argument(
        "--slo-attainment",
        type=float,
        default=0.95,
        help="fraction of requests that must meet every SLO (default 0.95)",
    )
    g.add_argument("--max-tokens", type=int, default=64, help="cap on requested output tokens (default 64)")
    g.add_argument(
        "--output-len",
        default="uniform:16:64",
        help="output length distribution: fixed:N | uniform:LO:HI | normal:MEAN:STD",
    )
    g.add_argument("--input-mix", default="short=0.4,long=0.3,chat=0.3", help="weights of prompt kinds")
    g.add_argument("--max-input-tokens", type=int, default=None, help="skip prompts longer than this")
    g.add_argument(
        "--no-ignore-eos",
        action="store_true",
        help="let answers end at EOS (default: min_tokens = max_tokens, exact output lengths)",
    )
    g.add_argument("--temperature", type=float, default=None, help="default: greedy")
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--request-timeout", type=float, default=120.0, help="seconds per request")
    g.add_argument(
        "--price-per-hour",
        type=float,
        default=None,
        help="deployment price per hour for cost figures (default: $PRICE_PER_HOUR)",
    )
    g.add_argument("--protocol", choices=["grpc", "http", "openai"], default="grpc")
    g.add_argument("--name", default=None, help="results subdirectory (default: timestamp-protocol)")


def _config(args, host=None) -> RunConfig:
    return RunConfig(
        protocol=args.protocol,
        host=host,
        users=args.users,
        duration_s=parse_duration(args.duration),
        rate=args.rate,
        ramp=args.ramp,
        stage_duration_s=parse_duration(args.stage_duration),
        slos=metrics.parse_slos(args.slo),
        slo_attainment=args.slo_attainment,
        max_tokens=args.max_tokens,
        output_len=args.output_len,
        input_mix=args.input_mix,
        max_input_tokens=args.max_input_tokens,
        ignore_eos=not args.no_ignore_eos,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        request_timeout_s=args.request_timeout,
        price_per_hour=args.price_per_hour,
        openai_model=getattr(args, "openai_model", "ensemble"),
        name=args.name,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="one load test against a running server")
    _load_args(p)
    p.add_argument(
        "--host",
        default=None,
        help="grpc: HOST:PORT (default 127.0.0.1:8001); http/openai: URL (default :8000 / :9000)",
    )
    p.add_argument("--openai-model", default="ensemble", help="model name for the OpenAI API")
    p = sub.add_parser("compare", help="two deployment variants under the identical load, side by side")
    p.add_argument("--a", default="fp32", help="baseline precision (default fp32)")
    p.add_argument("--b", default="int8", help="candidate precision (default int8)")
    # --max-context-len: the flag's earlier name, still accepted.
    p.add_argument("--max-seq-len", "--max-context-len", dest="max_seq_len", type=int, default=2048)
    p.add_argument("--max-num-seqs", type=int, default=16)
    _load_args(p)
    args = parser.parse_args(argv)
    try:
        config = _config(args, getattr(args, "host", None))
        if args.command == "run":
            from .run import run

            result = run(config)
            print(f"[loadtest] report: {config.results_dir / result['run'] / 'report.md'}")
            return result["exit_code"]
        if config.protocol == "openai":
            raise ValueError("compare drives Triton directly: use --protocol grpc or http")
        if config.ramp:
            raise ValueError("compare runs one fixed profile: use --users or --rate, not --ramp")
        from .compare import compare

        compare(
            args.a,
            args.b,
            config,
            ["--max-seq-len", str(args.max_seq_len), "--max-num-seqs", str(args.max_num_seqs)],
        )
        return 0
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
