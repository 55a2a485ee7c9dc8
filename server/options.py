"""What a tritonserver is started with: `ServerOptions` (validated) and the command line built from it."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

RESTRICTED_APIS = "model-repository,shared-memory,trace,logging"
ADMIN_HEADER = "triton-admin-key"


@dataclass(frozen=True)
class GrpcTls:
    """TLS on Triton's gRPC endpoint (PEM files). `client_ca` set: mutual TLS, clients must present a
    certificate signed by it."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def __post_init__(self) -> None:
        for name in ("cert", "key", "client_ca"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"grpc tls {name}: {path} is not a file")


class Endpoints:
    """The URLs of anything with `host`, `http_port` and `grpc_port` (a server's options, a test target)."""

    host: str
    http_port: int
    grpc_port: int

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"


@dataclass(frozen=True)
class ServerOptions(Endpoints):
    model_repository: Path
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    host: str = "127.0.0.1"
    exit_timeout_s: int = 30  # SIGTERM drains in-flight requests for at most this long
    # The header value the admin APIs (RESTRICTED_APIS) require. Triton 2.51 reads it only from its
    # command line; TritonServer blanks it there once Triton has parsed it (see argv_scrub.py).
    admin_key: str = field(
        default_factory=lambda: os.environ.get("TRITON_ADMIN_KEY") or secrets.token_hex(16), repr=False
    )
    log_verbose: int = 0
    grpc_tls: GrpcTls | None = None

    def __post_init__(self) -> None:
        ports = (self.http_port, self.grpc_port, self.metrics_port)
        if len(set(ports)) != 3 or not all(0 < p < 65536 for p in ports):
            raise ValueError(f"ports must be three distinct values in 1..65535, got {ports}")
        if not Path(self.model_repository).is_dir():
            raise ValueError(f"{self.model_repository}: model repository does not exist (run `make repo`)")
        # Triton splits the restricted-API flag on ':' and '=': such a key would be cut short.
        if len(self.admin_key) < 16 or any(c in self.admin_key for c in ":=,\n\r\0 "):
            raise ValueError(
                "admin key: at least 16 characters, none of ':', '=', ',', spaces or line breaks"
            )

    @property
    def ports(self) -> tuple[int, int, int]:
        return self.http_port, self.grpc_port, self.metrics_port


def command(options: ServerOptions, binary: Path, backend_dir: Path) -> list[str]:
    o = options
    args = [
        str(binary),
        f"--model-repository={Path(o.model_repository).resolve()}",
        f"--backend-directory={backend_dir}",
        f"--http-address={o.host}",
        f"--http-port={o.http_port}",
        f"--grpc-address={o.host}",
        f"--grpc-port={o.grpc_port}",
        f"--metrics-address={o.host}",
        f"--metrics-port={o.metrics_port}",
        "--model-control-mode=none",
        "--strict-readiness=true",
        f"--exit-timeout-secs={o.exit_timeout_s}",
        "--metrics-config=histogram_latencies=true",
        # Admin APIs need a header key; inference, health and metadata stay open.
        f"--http-restricted-api={RESTRICTED_APIS}:{ADMIN_HEADER}={o.admin_key}",
        f"--grpc-restricted-protocol={RESTRICTED_APIS}:{ADMIN_HEADER}={o.admin_key}",
        # A per-process prefix lets several servers (tests, serve) share /dev/shm.
        f"--backend-config=python,shm-region-prefix-name=tllm{os.getpid()}_{o.http_port}_",
        f"--log-verbose={o.log_verbose}",
    ]
    if o.grpc_tls is not None:
        tls = o.grpc_tls
        args += [
            f"--grpc-server-cert={Path(tls.cert).resolve()}",
            f"--grpc-server-key={Path(tls.key).resolve()}",
        ]
        if tls.client_ca is not None:
            args += ["--grpc-use-ssl-mutual=true", f"--grpc-root-cert={Path(tls.client_ca).resolve()}"]
        else:
            args.append("--grpc-use-ssl=true")
    return args
