"""What the sync and asyncio clients are made with, checked once for both."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from .retry import RetryPolicy, retry_policy
from .wire import MODEL, http_base


@dataclass(frozen=True)
class TlsFiles:
    """TLS towards the server (PEM files): `ca` verifies the server (None: the system's CAs);
    `cert` + `key` are this client's certificate, for servers that require one (mutual TLS)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS: a client certificate needs its key, and a key its certificate")
        for name in ("ca", "cert", "key"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"TLS {name}: {path} is not a file")

    def grpc_kwargs(self) -> dict:
        """tritonclient's gRPC client arguments (sync and asyncio take the same: file paths)."""

        def path(p):
            return str(p) if p is not None else None

        return {
            "ssl": True,
            "root_certificates": path(self.ca),
            "private_key": path(self.key),
            "certificate_chain": path(self.cert),
        }

    def ssl_context(self) -> ssl.SSLContext:
        """For HTTPS (a TLS proxy in front of Triton's HTTP port: Triton 2.51 serves HTTP in clear)."""
        context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        if self.cert is not None:
            context.load_cert_chain(str(self.cert), str(self.key))
        return context


class ClientSettings:
    """`url` is host:port (gRPC), or host:port or http(s)://host:port (HTTP); `protocol` "grpc" or
    "http" (these two may be given by position, the rest by keyword); `timeout_s` the default
    per-request deadline; `retry` a RetryPolicy, a number of attempts, or None (no retries: an
    overloaded server answers at once); `tls` TlsFiles for gRPC over TLS (and HTTPS URLs)."""

    def __init__(
        self,
        url: str = "localhost:8001",
        protocol: str = "grpc",
        *,
        timeout_s: float = 300.0,
        model: str = MODEL,
        retry: RetryPolicy | int | None = None,
        tls: TlsFiles | None = None,
    ):
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.url = url
        self.protocol = protocol
        self.timeout_s = timeout_s
        self.model = model
        self.retry = retry_policy(retry)
        self.tls = tls

    def _grpc_client(self, module):
        """A tritonclient gRPC client (`module`: tritonclient.grpc or tritonclient.grpc.aio)."""
        return module.InferenceServerClient(self.url, **(self.tls.grpc_kwargs() if self.tls else {}))

    def _ssl_context(self) -> ssl.SSLContext | None:
        return self.tls.ssl_context() if self.tls and self._http_base().startswith("https") else None

    def _http_base(self) -> str:
        return http_base(self.url)
