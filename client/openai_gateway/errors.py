"""OpenAI error objects, and how Triton's errors and the request contract's InputError become them."""

from __future__ import annotations

import re

from python_backend.contract.errors import InputError

from ..errors import (
    AdapterNotFoundError,
    InvalidRequestError,
    OverloadedError,
    RequestTimeoutError,
    ServerError,
    ServerUnavailableError,
)

RETRY_AFTER_S = 1
# How the models' refusals start: the ensemble's step, then in a batched request (a prompt list) the
# item, then "<input>: <problem>" (client/errors.py classifies them; this rewords them).
_INTERNAL_PREFIX = re.compile(r"^in ensemble '[^']*', (?:batch item (\d+): )?")
# Triton's input names (as the models name them in errors) → the OpenAI parameter.
SERVER_FIELD_TO_PARAM = {
    "max_tokens": "max_tokens",
    "runtime_top_p": "top_p",
    "top_p": "top_p",
    "temperature": "temperature",
    "runtime_top_k": "top_k",
    "stop_words": "stop",
    "seed": "seed",
    "min_tokens": "min_tokens",
    "repetition_penalty": "repetition_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    # logit_bias is sent as these two (preprocessing checks the ids against the vocabulary).
    "logit_bias_token_ids": "logit_bias",
    "logit_bias_values": "logit_bias",
    # Only response_format sets a guide (a schema xgrammar cannot compile is found by the engine).
    "guided_decoding_guide_type": "response_format",
    "guided_decoding_guide": "response_format",
}


class OpenAIError(Exception):
    """An error answer: `status` is the HTTP status, `body()` the OpenAI error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid(message: str, param: str | None) -> OpenAIError:
    return OpenAIError(400, message, type_="invalid_request_error", param=param)


def from_input_error(exc: InputError) -> OpenAIError:
    """400 naming the field: the contract's messages start with the field the caller named, and the
    gateway names OpenAI's parameters."""
    field, _, _ = str(exc).partition(":")
    named = field and all(part.isidentifier() for part in field.split("."))  # e.g. response_format.type
    return invalid(str(exc), field if named else None)


def model_not_found(name: str, served: str | None = None) -> OpenAIError:
    message = f"The model '{name}' does not exist" + (f"; this server serves '{served}'" if served else "")
    return OpenAIError(404, message, type_="invalid_request_error", param="model", code="model_not_found")


def _in_api_words(message: str, prompt_param: str) -> tuple[str, str, bool] | None:
    """A model's "<input>: <problem>" refusal as (message naming the OpenAI parameter, the parameter,
    whether it came from one item of a batch), without the ensemble's or the tensor's name; None when
    the input is not one a parameter maps to."""
    text = message.strip()
    match = _INTERNAL_PREFIX.match(text)
    item = match.group(1) if match else None
    field, colon, problem = text[match.end() if match else 0 :].partition(": ")
    prompt = field in ("text_input", "input_token_ids", "apply_chat_template")
    param = prompt_param if prompt else SERVER_FIELD_TO_PARAM.get(field)
    if not colon or param is None:
        return None
    where = f"{param}[{item}]" if item is not None else param
    return f"{where}: {problem}", param, item is not None


def from_http_error(status: int, detail, headers: dict[str, str] | None) -> OpenAIError:
    """The web framework's own errors: no such route (404), or not with this method (405)."""
    if status == 404:
        return OpenAIError(
            404, "Not found: no such endpoint", type_="invalid_request_error", code="not_found"
        )
    if status == 405:
        allowed = (headers or {}).get("allow") or (headers or {}).get("Allow")
        message = "Method not allowed" + (f"; this endpoint takes {allowed}" if allowed else "")
        return OpenAIError(
            405, message, type_="invalid_request_error", code="method_not_allowed", headers=headers
        )
    kind = "invalid_request_error" if status < 500 else "server_error"
    return OpenAIError(status, str(detail), type_=kind, headers=headers)


def internal(exc: Exception) -> OpenAIError:
    return OpenAIError(
        500, f"Internal error: {type(exc).__name__}", type_="server_error", code="internal_error"
    )


def unavailable(message: str) -> OpenAIError:
    return OpenAIError(503, message, type_="service_unavailable_error", code="triton_unavailable")


def from_server_error(exc: ServerError, prompt_param: str) -> OpenAIError:
    """Triton's error → the OpenAI error a client library knows how to handle."""
    if isinstance(exc, OverloadedError):
        return OpenAIError(
            429,
            f"The engine is at capacity: {exc}",
            type_="rate_limit_error",
            code="engine_overloaded",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    if isinstance(exc, AdapterNotFoundError):  # the directory lost it since the request was parsed
        return model_not_found(exc.adapter or "?")
    reworded = _in_api_words(str(exc), prompt_param)
    if reworded is not None and (isinstance(exc, InvalidRequestError) or reworded[2]):
        return invalid(reworded[0], reworded[1])
    if isinstance(exc, InvalidRequestError):
        return invalid(str(exc), None)
    if isinstance(exc, RequestTimeoutError):
        return OpenAIError(504, str(exc), type_="timeout_error", code="timeout")
    if isinstance(exc, ServerUnavailableError):
        return unavailable(f"The inference server is unavailable: {exc}")
    return OpenAIError(500, str(exc), type_="server_error", code="triton_error")
