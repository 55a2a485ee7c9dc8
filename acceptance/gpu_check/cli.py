"""`python -m acceptance gpu-check`: build, assemble, serve and accept a GPU deployment (`make gpu-check`).

Each step is the command a person would type from docs/GPU.md, run with this interpreter:
  0. the preflight: refuse at once, naming everything missing (nothing is built or started);
  1. `engine` (step 2 of docs/GPU.md; skipped with --reuse-engine when the engine is built, and with
     --gpu-engine pytorch, whose gpu-repo reads the checkpoint itself);
  2. `gpu-repo` (step 3);
  3. `launch` (step 4) in the background, its log in the run directory, until /v2/health/ready;
  4. the acceptance checks (acceptance/suite.py) against that server;
  5. SIGTERM to the launcher, which stops every rank.
After the preflight a report is always written, results/gpu-check/<run>/report.{json,md}, with
every step and check as a result; the exit status is 0 only when all of them passed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from build_engines.llmapi.checkpoint_facts import PRECISIONS as PYTORCH_PRECISIONS
from build_engines.llmapi.checkpoint_facts import REFUSED
from build_engines.trtllm import recipes

from .config import GPU_ENGINES, GPU_REPO, RESULTS, GpuCheckConfig
from .machine import Refused
from .run import EXIT_REFUSED, run


def cmd_gpu_check(args) -> int:
    try:
        cfg = GpuCheckConfig(
            checkpoint=args.checkpoint,
            precision=args.precision,
            gpu_engine=args.gpu_engine,
            tp=args.tp,
            pp=args.pp,
            engine_dir=args.engine_dir,
            repo=args.repo,
            results=args.results,
            name=args.name,
            host=args.host,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            metrics_port=args.metrics_port,
            reuse_engine=args.reuse_engine,
            engine_args=shlex.split(args.engine_args),
            gpu_repo_args=shlex.split(args.gpu_repo_args),
            load_seconds=args.load_seconds,
            load_users=args.load_users,
        )
        code = run(cfg)
    except (Refused, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_REFUSED
    return code


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gpu-check",
        help="build, assemble, serve and accept a GPU deployment; report in results/gpu-check/",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="HF checkpoint directory")
    p.add_argument(
        "--precision",
        choices=sorted({*recipes.PRECISIONS, *PYTORCH_PRECISIONS, *REFUSED}),
        default="fp16",
        help="engine recipe (trt) or what the checkpoint holds (pytorch)",
    )
    p.add_argument(
        "--gpu-engine",
        choices=GPU_ENGINES,
        default="trt",
        help="pytorch: LLM API on the checkpoint, no engine",
    )
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--pp", type=int, default=1)
    p.add_argument(
        "--engine-dir", type=Path, default=None, help="default: build/engines/<precision>-tp<tp>-pp<pp>"
    )
    p.add_argument("--repo", type=Path, default=GPU_REPO)
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--name", default=None, help="the run's directory name (default: time-precision-layout)")
    p.add_argument("--host", default="127.0.0.1", help="where the checks reach the server")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument(
        "--reuse-engine", action="store_true", help="skip the build when --engine-dir holds an engine"
    )
    p.add_argument("--engine-args", default="", help="further `engine` options, one string")
    p.add_argument("--gpu-repo-args", default="", help="further `gpu-repo` options, one string")
    p.add_argument("--load-seconds", type=float, default=20.0)
    p.add_argument("--load-users", type=int, default=4)
    p.set_defaults(func=cmd_gpu_check)
