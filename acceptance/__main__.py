"""`python -m acceptance`: run the acceptance checks against a running server and write a report.

  python -m acceptance                              # the server `make serve` started (8000-8002)
  python -m acceptance --http-port 18000 --grpc-port 18001 --metrics-port 18002 --out results/acceptance/x

Exit status: 0 when every check passed, 1 when one failed, 2 when the server is not ready.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from build_engines.trtllm.environment import list_gpus

from . import engine_metrics, report, suite
from .target import Target

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
