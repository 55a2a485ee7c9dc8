"""`python -m acceptance`: run the acceptance checks against a running server and write a report.

  python -m acceptance                              # the server `make serve` started (8000-8002)
  python -m acceptance --http-port 18000 --grpc-port 18001 --metrics-port 18002 --out results/acceptance/x
  python -m acceptance gpu-check --checkpoint DIR   # build, serve and check a GPU deployment (make gpu-check)

Exit status: 0 when every check passed, 1 when one failed, 2 when the server is not ready (or,
for gpu-check, when this machine cannot run it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from build_engines.trtllm.environment import list_gpus

from . import engine_metrics, report
from .gpu_check import cli as gpu_check_cli
from .target import Target

ROOT = Path(__file__).resolve().parent.parent


def run_checks(args: argparse.Namespace) -> int:
    # Imported here: the checks need the client side (tritonclient, locust), and gpu-check's
    # refusal, which this module also serves, must not depend on it.
    from . import suite

    target = Target(args.host, args.http_port, args.grpc_port, args.metrics_port)
    if not target.ready():
        print(f"error: no ready server at {target.http_url} (start one with `make serve`)", file=sys.stderr)
        return 2
    out = args.out or ROOT / "results" / "acceptance" / time.strftime("%Y%m%d-%H%M%S")
    results = suite.run_all(target, out, args.load_seconds, args.load_users)
    gpus = tuple(report.GpuFact(g.index, g.name, g.sm) for g in list_gpus())
    done = report.Report(
        "Acceptance checks",
        results,
        gpus,
        engine_metrics.engine_kind(target),
        {"http": target.http_url, "grpc": target.grpc_url, "metrics": target.metrics_url},
    )
    json_path, md_path = report.write(done, out)
    print(f"[acceptance] {'PASSED' if done.passed else 'FAILED'}: {md_path} and {json_path.name}")
    return 0 if done.passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m acceptance", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--out", type=Path, default=None, help="default: results/acceptance/<time>")
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--load-users", type=int, default=4)
    parser.set_defaults(func=run_checks)
    # No command: the checks against a running server, as before gpu-check joined this entry point.
    gpu_check_cli.register(parser.add_subparsers(dest="command"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
