"""Typed errors: every server or transport failure reaches the caller as one `ServerError` subclass.

- `InvalidRequestError`: bad input (INVALID_ARG / HTTP 400); `.field` names the input.
- `OverloadedError`: the engine queue is full; nothing was started, retrying later is safe.
- `ServerUnavailableError`: the server cannot be reached or its engine is down (also a `ConnectionError`).
- `RequestTimeoutError`: the per-request deadline passed; the request was cancelled (also a `TimeoutError`).

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


_ENSEMBLE_PREFIX = re.compile(r"^in ensemble '[^']*', ")
_FIELD_ERROR = re.compile(r"^([a-z][a-z0-9_]*): ")  # the models' convention: "<input>: <problem>"
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
