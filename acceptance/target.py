"""The server under test: where it listens, and the request limits it serves with.

The limits are read from the running server itself (the `preprocessing` model's config, an open
endpoint), so the same checks fit the CPU test repository (max_seq_len 512) and a GPU engine
(whatever `gpu-repo` wrote) without being told.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

from server.options import Endpoints

# What tests/serving/client/conftest.py starts the OpenAI gateway with; the gateway is not part of a
# Triton deployment, so this one is not read from the server.
GATEWAY_BODY_LIMIT = 200_000


@dataclass(frozen=True)
class Target(Endpoints):
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    def get_json(self, path: str, timeout_s: float = 10.0) -> dict:
        with urllib.request.urlopen(f"{self.http_url}{path}", timeout=timeout_s) as response:
            return json.loads(response.read())

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/v2/health/ready", timeout=5) as response:
                return response.status == 200
        except OSError:  # URLError and connection errors are OSErrors
            return False


@dataclass(frozen=True)
class Limits:
    """The limits the bad-input table is written against (python_backend/contract/limits.py
    enforces them; model_repository/preprocessing/config.pbtxt carries them)."""

    max_text_bytes: int
    max_stop_words: int
    max_seq_len: int
    max_input_len: int | None = None  # None: preprocessing's default, max_seq_len - 1
    gateway_body_limit: int = GATEWAY_BODY_LIMIT

    def __post_init__(self) -> None:
        for name in ("max_text_bytes", "max_stop_words", "max_seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def longest_prompt(self) -> int:
        return self.max_input_len if self.max_input_len is not None else self.max_seq_len - 1

    @classmethod
    def of_server(cls, target: Target) -> Limits:
        """The limits of the served `preprocessing` model (parameters are strings in a model config)."""
        params = target.get_json("/v2/models/preprocessing/config").get("parameters", {})

        def value(name: str) -> int | None:
            entry = params.get(name)
            return int(entry["string_value"]) if entry else None

        missing = [n for n in ("max_text_bytes", "max_stop_words", "max_seq_len") if value(n) is None]
        if missing:
            raise ValueError(f"the served preprocessing config has no {', '.join(missing)} parameter")
        return cls(
            value("max_text_bytes"), value("max_stop_words"), value("max_seq_len"), value("max_input_len")
        )
