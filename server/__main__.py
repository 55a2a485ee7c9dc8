"""`python -m server --model-repository DIR`: run tritonserver in the foreground until Ctrl-C / SIGTERM.

Exit codes: 0 after a clean stop (also when stopped before it was ready); 1 when tritonserver could
not start, kept failing, or did not drain within --exit-timeout (requests were still in flight).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from python_backend.contract import repo_paths

from .signals import StopSignals
from .supervisor import Supervisor
from .tritonserver import ADMIN_HEADER, GrpcTls, ServerOptions, StartupInterrupted, TritonServer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m server", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-repository", type=Path, default=Path("build/model_repository"))
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument(
        "--exit-timeout", type=int, default=30, help="seconds SIGTERM waits for in-flight requests"
    )
    parser.add_argument("--log-file", type=Path, default=None)
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=3,
        help="restarts after a crash within 10 minutes before exiting non-zero",
    )
    parser.add_argument(
        "--admin-key-file",
        type=Path,
        default=None,
        help="file whose first line is the admin API key (else $TRITON_ADMIN_KEY, else a random "
        "key nobody is told: the admin APIs are then closed)",
    )
    parser.add_argument("--grpc-tls-cert", type=Path, help="PEM certificate: serve gRPC over TLS")
    parser.add_argument("--grpc-tls-key", type=Path, help="PEM private key of --grpc-tls-cert")
    parser.add_argument(
        "--grpc-tls-client-ca", type=Path, help="PEM CA: require client certificates it signed"
    )
    return parser.parse_args(argv)


def build_options(args: argparse.Namespace) -> ServerOptions:
    tls = None
    if args.grpc_tls_cert or args.grpc_tls_key or args.grpc_tls_client_ca:
        if not (args.grpc_tls_cert and args.grpc_tls_key):
            raise ValueError("--grpc-tls-cert and --grpc-tls-key go together")
        tls = GrpcTls(args.grpc_tls_cert, args.grpc_tls_key, args.grpc_tls_client_ca)
    extra = {}
    if args.admin_key_file is not None:
        extra["admin_key"] = args.admin_key_file.read_text().strip()
    return ServerOptions(
        args.model_repository,
        args.http_port,
        args.grpc_port,
        args.metrics_port,
        host=args.host,
        exit_timeout_s=args.exit_timeout,
        grpc_tls=tls,
        **extra,
    )


def banner(args: argparse.Namespace, options: ServerOptions, server: TritonServer) -> str:
    if args.admin_key_file or os.environ.get("TRITON_ADMIN_KEY"):
        admin = f"header {ADMIN_HEADER} with your key" + (
            "" if server.admin_key_hidden else " (WARNING: still visible in `ps`)"
        )
    else:
        admin = "closed (give --admin-key-file or TRITON_ADMIN_KEY to open them)"
    scheme = "grpcs" if options.grpc_tls else "grpc"
    return f"""
Triton is ready.
  stream an answer:  .venv/bin/python -m client generate "What is the capital of France?" --stream
  HTTP:              curl -s {options.http_url}/v2/models/ensemble/generate -d '{{"text_input": "Hello",
  "max_tokens": 32}}'
  gRPC:              {scheme}://{options.grpc_url}
  metrics:           curl -s http://{args.host}:{args.metrics_port}/metrics
  admin APIs:        {admin}
Ctrl-C stops the server (in-flight requests drain for up to {args.exit_timeout} s; Ctrl-C again forces).
"""


def main(argv: list[str] | None = None) -> int:
    signals = StopSignals()  # first: a signal at any later point is handled, never Python's default
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = build_options(args)
        # A repository assembled for another path (gpu-repo --repo-mount-path) is refused here, naming
        # the config, the path and the flag, not by the backend with a misleading message.
        repo_paths.check_repository(args.model_repository)
        server = TritonServer(options, args.log_file)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    server.stop_requested = signals.requested
    signals.force = server.kill
    supervisor = Supervisor(server, max_restarts=args.max_restarts)
    print(
        f"starting tritonserver on {args.host} (HTTP {args.http_port}, gRPC {args.grpc_port}, "
        f"metrics {args.metrics_port}) …",
        flush=True,
    )
    try:
        supervisor.start()
        print(banner(args, options, server), flush=True)
        while not signals.requested.wait(1.0):
            if not supervisor.check():
                print(
                    "error: tritonserver keeps failing; exiting for the orchestrator to restart it",
                    file=sys.stderr,
                )
                return 1
    except StartupInterrupted:
        print(f"{signals.name} before tritonserver was ready: stopped it", flush=True)
        return 0
    except (ValueError, RuntimeError, TimeoutError, FileNotFoundError) as exc:
        server.stop(timeout_s=10)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{signals.name}: stopping tritonserver (draining in-flight requests) …", flush=True)
    code = server.stop(drain_first=True)
    print(f"tritonserver stopped (exit code {code})", flush=True)
    # Non-zero when Triton's drain timed out with requests still in flight: the orchestrator and the
    # operator should know that requests were cut off.
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
