"""Typed errors: every server or transport failure reaches the caller as one `ServerError` subclass.

- `InvalidRequestError`: bad input (INVALID_ARG / HTTP 400); `.field` names the input.
- `OverloadedError`: the engine queue is full; nothing was started, retrying later is safe.
- `ServerUnavailableError`: the server cannot be reached or its engine is down (also a `ConnectionError`).
- `RequestTimeoutError`: the per-request deadline passed; the request was cancelled (also a `TimeoutError`).
- `AdapterNotFoundError`: the LoRA adapter the request names is not served (NOT_FOUND); `.adapter`
  names it.
- `LoraCacheMissError`: TensorRT-LLM's C++ backend no longer holds the adapter's weights; the clients
  resend the request once with `lora_send_weights` (client/retry.py), so callers rarely see it.

A bad value the caller passes before anything is sent raises the request contract's `InputError`
(a `ValueError`) instead: see `client.wire.checked`.
"""

from __future__ import annotations

import re


class ServerError(RuntimeError):
    """The server refused or failed a request; `status` is the HTTP status or gRPC code name."""

    def __init__(self, message: str, status: str | int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def message(self) -> str:
        return str(self)


class InvalidRequestError(ServerError):
    """The server rejected the request's input (INVALID_ARG / HTTP 400); `field` names the input
    when the message does (e.g. "max_tokens", "runtime_top_p")."""

    @property
    def field(self) -> str | None:
        match = _FIELD_ERROR.match(_strip_ensemble_prefix(str(self)))
        if match:
            return match.group(1)
        match = re.search(r"inference input '([^']+)'", str(self))
        return match.group(1) if match else None


class OverloadedError(ServerError):
    """The engine queue is full (UNAVAILABLE); nothing was started, retrying later is safe."""


class ServerUnavailableError(ServerError, ConnectionError):
    """The server cannot be reached or its engine is not running."""


class RequestTimeoutError(ServerError, TimeoutError):
    """The request's deadline passed; it was cancelled on the server."""


class AdapterNotFoundError(InvalidRequestError):
    """The request names a LoRA adapter the server does not serve (not in its adapter directory)."""

    @property
    def adapter(self) -> str | None:
        match = _ADAPTER_NAMED.search(str(self))
        return match.group(1) if match else None


class LoraCacheMissError(ServerError):
    """TensorRT-LLM's C++ backend evicted the adapter's weights from its LoRA cache (or this instance
    never had them): the request must be sent again with the weights (docs/upstream/lora.md §1.3)."""


_ENSEMBLE_PREFIX = re.compile(r"^in ensemble '[^']*', ")
_FIELD_ERROR = re.compile(r"^([a-z][a-z0-9_]*): ")  # the models' convention: "<input>: <problem>"
# The adapter directory's and the engine's refusal (python_backend/contract/adapter_dir.py,
# engine/admission.py): "lora_name: adapter '<name>' is not in the adapter directory" / "is not loaded".
_ADAPTER_NAMED = re.compile(r"lora_name: adapter '([^']*)' is not")
# The executor's PeftTaskNotCachedException text, inside Triton's "Executor failed process requestId
# <n> due to the following error: ..." (docs/upstream/lora.md §1.3; NVIDIA's NIM matches the same).
_LORA_CACHE_MISS = re.compile(r"LoRA task [0-9]+ not found in cache\. Please send LoRA weights with request")
_INVALID_HINTS = (
    "unexpected datatype",
    "unexpected shape",
    "unable to parse",
    "unknown model",
    "inference input",
    "unexpected inference output",
)


def _strip_ensemble_prefix(message: str) -> str:
    return _ENSEMBLE_PREFIX.sub("", message.strip())


def error_from(message: str, status: str | int | None = None) -> ServerError:
    """The typed error for a server message. Errors sent inside a gRPC stream carry no status code
    and Triton 2.51 hands an ensemble step's UNAVAILABLE to HTTP clients as 400, so the message
    decides first and the status only where the message says nothing."""
    text = message.strip()
    lowered = text.lower()
    code = str(status) if status is not None else ""
    if _LORA_CACHE_MISS.search(text):
        return LoraCacheMissError(text, status)
    if _ADAPTER_NAMED.search(text) or (code in ("StatusCode.NOT_FOUND", "404") and "lora_name" in text):
        return AdapterNotFoundError(text, status)
    # Ours: "engine queue is full ...; retry later". TensorRT-LLM's executor (the GPU engine):
    # "Maximum queue size of N has been reached, please try again later".
    if "queue is full" in lowered or "retry later" in lowered or "maximum queue size" in lowered:
        return OverloadedError(text, status)
    if code in ("StatusCode.DEADLINE_EXCEEDED", "408", "504") or "deadline exceeded" in lowered:
        return RequestTimeoutError(text, status)
    if code in ("StatusCode.UNAVAILABLE", "503") or "engine unavailable" in lowered:
        return ServerUnavailableError(text, status)
    if (
        code in ("StatusCode.INVALID_ARGUMENT", "400")
        or _FIELD_ERROR.match(_strip_ensemble_prefix(text))
        or any(hint in lowered for hint in _INVALID_HINTS)
    ):
        return InvalidRequestError(text, status)
    return ServerError(text, status)


def grpc_error(error) -> ServerError:
    """A tritonclient error (in-stream or transport) as a typed error."""
    message = error.message() if hasattr(error, "message") and callable(error.message) else str(error)
    status = error.status() if hasattr(error, "status") and callable(error.status) else None
    return error_from(message or str(error), status)
