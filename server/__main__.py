"""`python -m server --model-repository DIR`: run tritonserver in the foreground until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from .supervisor import Supervisor
from .tritonserver import ServerOptions, TritonServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--model-repository", type=Path, default=Path("build/model_repository"))
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--exit-timeout", type=int, default=30, help="seconds SIGTERM waits for in-flight requests")
    parser.add_argument("--log-file", type=Path, default=None)
    parser.add_argument("--max-restarts", type=int, default=3,
                        help="restarts after a crash within 10 minutes before exiting non-zero")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = ServerOptions(args.model_repository, args.http_port, args.grpc_port, args.metrics_port,
                                host=args.host, exit_timeout_s=args.exit_timeout)
        server = TritonServer(options, args.log_file)
        supervisor = Supervisor(server, max_restarts=args.max_restarts)
        print(f"starting tritonserver on {args.host} (HTTP {args.http_port}, gRPC {args.grpc_port}, "
              f"metrics {args.metrics_port}) …", flush=True)
        supervisor.start()
    except (ValueError, RuntimeError, TimeoutError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"""
Triton is ready.
  stream an answer:  .venv/bin/python -m client generate "What is the capital of France?" --stream
  HTTP:              curl -s {options.http_url}/v2/models/ensemble/generate -d '{{"text_input": "Hello", "max_tokens": 32}}'
  metrics:           curl -s http://{args.host}:{args.metrics_port}/metrics
  admin API key:     header {'triton-admin-key'} (set TRITON_ADMIN_KEY to choose it)
Ctrl-C stops the server (in-flight requests drain for up to {args.exit_timeout} s).
""", flush=True)
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while stopping["signal"] is None:
        try:
            healthy = supervisor.check()
        except (RuntimeError, TimeoutError) as exc:
            print(f"error: restart failed: {exc}", file=sys.stderr)
            return 1
        if not healthy:
            print("error: tritonserver keeps failing; exiting for the orchestrator to restart it", file=sys.stderr)
            return 1
        time.sleep(1.0)
    print("stopping tritonserver (draining in-flight requests) …", flush=True)
    code = server.stop()
    print(f"tritonserver stopped (exit code {code})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
