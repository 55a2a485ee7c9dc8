"""The gateway's settings (the command line's, __main__.py), and the model names they imply."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..settings import TlsFiles
from .adapters import ServedModels

MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    triton_grpc: str = "localhost:8001"
    tokenizer_dir: Path | None = None  # for usage.prompt_tokens; None: counted as 0
    served_model_name: str = "ensemble"  # the model name clients send
    triton_model: str = "ensemble"
    timeout_s: float = 300.0  # per request, then 504
    max_body_bytes: int = MAX_BODY_BYTES  # larger bodies get 413
    triton_tls: TlsFiles | None = None  # gRPC over TLS to Triton (its --grpc-tls-* options)
    lora_dir: Path | None = None  # the adapter directory (LORA_DIR); None: no adapters
    allow_runtime_lora: bool = False  # serve /v1/load_lora_adapter and /v1/unload_lora_adapter
    base_model: str | None = None  # the served checkpoint's name, which adapters must be trained on

    @property
    def model_names(self) -> tuple[str, ...]:
        """Names a request may use: the served one (what /v1/models lists), and the Triton model's,
        which clients written before the served name existed send ("ensemble")."""
        return tuple(dict.fromkeys((self.served_model_name, self.triton_model)))

    @property
    def models(self) -> ServedModels:
        """The base model's names and the adapters beside it (adapters.py)."""
        return ServedModels(self.model_names, self.lora_dir)
