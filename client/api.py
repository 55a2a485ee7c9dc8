"""The client library: one request type, one result type, typed errors, gRPC and HTTP transports.

What it promises:
- gRPC: every request to the decoupled ensemble goes over the bidirectional stream (Triton refuses
  unary ModelInfer for decoupled models); tritonclient allows one stream per client object, so each
  call opens its own client, which also lets several calls run concurrently from one process.
  HTTP: `/v2/models/ensemble/generate` (one response) and `/generate_stream` (server-sent events).
- Errors are `ServerError` subclasses carrying the server's message: `InvalidRequestError` (bad
  input; `.field` names the input), `OverloadedError` (engine queue full), `ServerUnavailableError`
  (connection refused, server or engine down) and `RequestTimeoutError` (the per-request deadline
  passed; also a `TimeoutError`).
- A deadline covers the whole request, retries included; when it passes, or when the caller stops
  reading a stream, the request is cancelled in Triton (gRPC: the stream is cancelled; HTTP: the
  connection is closed). Known limit: Triton 2.51's ensemble stops its remaining steps but does
  not forward the cancellation to the running `engine` request, which generates on to max_tokens.
- Retries (off unless a `RetryPolicy` is given) happen only while no response has arrived, and only
  for "cannot connect" and "overloaded": a request the server never started is safe to send again,
  a half-delivered stream is not.
- `GenerationResult` carries the text, the generated-token count, the finish reason ("length" when
  the count reached max_tokens, else "stop"), TTFT and the time of every chunk.

`client.aio.AsyncLLMClient` is the asyncio twin with the same types.
"""

from __future__ import annotations

import json
import queue
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

MODEL = "ensemble"


# -- errors ------------------------------------------------------------------------------------
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
_INVALID_HINTS = ("unexpected datatype", "unexpected shape", "unable to parse", "unknown model",
                  "inference input", "unexpected inference output")


def _strip_ensemble_prefix(message: str) -> str:
    return _ENSEMBLE_PREFIX.sub("", message.strip())


def error_from(message: str, status: str | int | None = None) -> ServerError:
    """The typed error for a server message. Errors sent inside a gRPC stream carry no status code
    and Triton 2.51 hands an ensemble step's UNAVAILABLE to HTTP clients as 400, so the message
    decides first and the status only where the message says nothing."""
    text = message.strip()
    lowered = text.lower()
    code = str(status) if status is not None else ""
    if "queue is full" in lowered or "retry later" in lowered:
        return OverloadedError(text, status)
    if code in ("StatusCode.DEADLINE_EXCEEDED", "408", "504") or "deadline exceeded" in lowered:
        return RequestTimeoutError(text, status)
    if code in ("StatusCode.UNAVAILABLE", "503") or "engine unavailable" in lowered:
        return ServerUnavailableError(text, status)
    if code in ("StatusCode.INVALID_ARGUMENT", "400") or _FIELD_ERROR.match(_strip_ensemble_prefix(text)) \
            or any(hint in lowered for hint in _INVALID_HINTS):
        return InvalidRequestError(text, status)
    return ServerError(text, status)


# -- retries -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """How often to resend a request the server never started. `attempts` counts every try
    (1 = no retry); the delay doubles from `backoff_s` up to `max_backoff_s`, with jitter so that
    many clients refused together do not come back together."""

    attempts: int = 4
    backoff_s: float = 0.25
    max_backoff_s: float = 4.0
    retry_overloaded: bool = True  # False: surface OverloadedError at once (e.g. a gateway answering 429)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("backoff times must be >= 0")

    def should_retry(self, error: BaseException, attempt: int, received_any: bool) -> bool:
        """`attempt` is 0 for the first try. Never after a response arrived: the caller may
        already have seen part of the answer."""
        if received_any or attempt + 1 >= self.attempts:
            return False
        if isinstance(error, OverloadedError):
            return self.retry_overloaded
        return isinstance(error, ServerUnavailableError)

    def delay_s(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2 ** attempt) * random.uniform(0.5, 1.0)


NO_RETRY = RetryPolicy(attempts=1)


def retry_policy(retry: RetryPolicy | int | None) -> RetryPolicy:
    """Accepts a policy, a number of attempts, or None (no retries)."""
    if retry is None:
        return NO_RETRY
    if isinstance(retry, int):
        return RetryPolicy(attempts=retry)
    return retry


# -- requests and results ----------------------------------------------------------------------
@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    max_tokens: int = 64
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    chat: bool = False  # apply the model's chat template (prompt may be a JSON message list)

    def inputs(self, stream: bool) -> dict[str, object]:
        """The ensemble's inputs as plain values (None = not sent)."""
        return {
            "text_input": self.prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop_words": list(self.stop) or None,
            "apply_chat_template": self.chat or None,
            "stream": stream,
            "exclude_input_in_output": True,
        }

    @classmethod
    def chat_messages(cls, messages: list[dict[str, str]], **kwargs) -> GenerateRequest:
        """A chat request from a list of {role, content} messages (sent as JSON)."""
        return cls(json.dumps(messages, ensure_ascii=False), chat=True, **kwargs)


@dataclass(frozen=True)
class Chunk:
    """One response: its text (a delta when streaming) and the tokens generated so far."""

    text: str
    token_count: int
    time_s: float = 0.0  # since the request was first sent


@dataclass
class GenerationResult:
    text: str = ""
    output_tokens: int = 0
    ttft_s: float | None = None  # send → first non-empty text
    e2e_s: float = 0.0
    chunk_times_s: list[float] = field(default_factory=list)  # send → each chunk
    finish_reason: str | None = None  # "length" (max_tokens reached) or "stop"
    attempts: int = 1  # tries it took (retries happen only before any response)


def finish_reason(token_count: int, max_tokens: int) -> str:
    return "length" if token_count >= max_tokens else "stop"


class ResultBuilder:
    """Folds chunks into a GenerationResult (shared by the sync and async clients)."""

    def __init__(self, request: GenerateRequest):
        self.request = request
        self.result = GenerationResult()
        self._parts: list[str] = []

    def add(self, chunk: Chunk) -> None:
        self.result.chunk_times_s.append(chunk.time_s)
        if chunk.text and self.result.ttft_s is None:
            self.result.ttft_s = chunk.time_s
        self._parts.append(chunk.text)
        self.result.output_tokens = max(self.result.output_tokens, chunk.token_count)

    def finish(self, e2e_s: float, attempts: int = 1) -> GenerationResult:
        self.result.text = "".join(self._parts)
        self.result.e2e_s = e2e_s
        self.result.finish_reason = finish_reason(self.result.output_tokens, self.request.max_tokens)
        self.result.attempts = attempts
        return self.result


def as_request(prompt: str | GenerateRequest, kwargs: dict) -> GenerateRequest:
    return prompt if isinstance(prompt, GenerateRequest) else GenerateRequest(prompt, **kwargs)


# -- wire formats shared by both clients -------------------------------------------------------
_TYPES = {
    "text_input": ("BYTES", np.object_), "max_tokens": ("INT32", np.int32), "temperature": ("FP32", np.float32),
    "top_k": ("INT32", np.int32), "top_p": ("FP32", np.float32), "seed": ("UINT64", np.uint64),
    "stop_words": ("BYTES", np.object_), "apply_chat_template": ("BOOL", np.bool_), "stream": ("BOOL", np.bool_),
    "exclude_input_in_output": ("BOOL", np.bool_),
}


def _grpc_inputs(grpcclient, values: dict[str, object]):
    inputs = []
    for name, value in values.items():
        if value is None:
            continue
        datatype, dtype = _TYPES[name]
        items = value if isinstance(value, list) else [value]
        if dtype is np.object_:
            items = [str(v).encode("utf-8") for v in items]
        array = np.asarray([items], dtype=dtype)
        tensor = grpcclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def grpc_chunk(result) -> tuple[str | None, int, bool]:
    """(text or None, token_count, final) of one gRPC stream response."""
    final = result.get_response().parameters.get("triton_final_response")
    text = result.as_numpy("text_output")
    count = result.as_numpy("token_count")
    decoded = b"".join(text.reshape(-1)).decode("utf-8") if text is not None else None
    return decoded, int(count.reshape(-1)[0]) if count is not None else 0, bool(final is not None and final.bool_param)


def grpc_error(error) -> ServerError:
    """A tritonclient error (in-stream or transport) as a typed error."""
    message = error.message() if hasattr(error, "message") and callable(error.message) else str(error)
    status = error.status() if hasattr(error, "status") and callable(error.status) else None
    return error_from(message or str(error), status)


def http_body(request: GenerateRequest, stream: bool) -> bytes:
    body = {k: v for k, v in request.inputs(stream).items() if v is not None}
    return json.dumps(body).encode()


def http_error_message(body: str) -> str:
    """The message of an error body: JSON {"error": …}, an SSE `data: {"error": …}` line, or text."""
    for candidate in (body.strip(), *(line[5:] for line in body.splitlines() if line.startswith("data:"))):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])
    return body.strip()


def sse_chunk(line: str) -> tuple[str, int] | None:
    """(text, token_count) of one SSE line of /generate_stream; None for non-data lines."""
    if not line.startswith("data:"):
        return None
    data = json.loads(line[5:])
    if "error" in data:
        raise error_from(str(data["error"]))
    return data.get("text_output", ""), int(data.get("token_count", 0))


def ensemble_steps(config: dict) -> list[str]:
    """The composing models of an ensemble config (JSON form), in step order."""
    steps = (config.get("ensemble_scheduling") or {}).get("step") or []
    return [s["model_name"] for s in steps if s.get("model_name")]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    versions: tuple[str, ...]
    platform: str
    ready: bool
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


def check_client_args(protocol: str, timeout_s: float) -> None:
    """Shared by the sync and asyncio clients."""
    if protocol not in ("grpc", "http"):
        raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")


# -- the synchronous client --------------------------------------------------------------------
class LLMClient:
    """Blocking client. `timeout_s` is the default per-request deadline; `retry` a RetryPolicy, a
    number of attempts, or None (no retries: an overloaded server answers at once)."""

    def __init__(self, url: str = "localhost:8001", protocol: str = "grpc", timeout_s: float = 300.0,
                 model: str = MODEL, retry: RetryPolicy | int | None = None):
        check_client_args(protocol, timeout_s)
        self.url, self.protocol, self.timeout_s, self.model = url, protocol, timeout_s, model
        self.retry = retry_policy(retry)

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc) -> None:
        pass

    # -- public API ----------------------------------------------------------------------------
    def stream(self, prompt: str | GenerateRequest, timeout_s: float | None = None, **kwargs) -> Iterator[str]:
        """Yield text chunks as they arrive. Closing the iterator (or breaking out of the loop)
        cancels the request on the server."""
        for chunk in self.events(as_request(prompt, kwargs), stream=True, timeout_s=timeout_s):
            yield chunk.text

    def events(self, request: GenerateRequest, stream: bool = True, timeout_s: float | None = None,
               on_attempt: Callable[[int], None] | None = None) -> Iterator[Chunk]:
        """Yield every response as a Chunk (text delta, tokens so far, time since sent)."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        started = time.perf_counter()

        def attempt(remaining_s: float) -> Iterable[tuple[str, int]]:
            if self.protocol == "grpc":
                return self._grpc(request, stream, remaining_s)
            return self._http_stream(request, remaining_s) if stream else self._http_generate(request, remaining_s)

        for text, count in self._with_retries(attempt, deadline, on_attempt):
            yield Chunk(text, count, time.perf_counter() - started)

    def generate(self, prompt: str | GenerateRequest, stream: bool = False, timeout_s: float | None = None,
                 **kwargs) -> GenerationResult:
        """The whole answer, with timings (streamed underneath when stream=True)."""
        request = as_request(prompt, kwargs)
        builder, started, attempts = ResultBuilder(request), time.perf_counter(), [1]
        for chunk in self.events(request, stream, timeout_s, on_attempt=lambda n: attempts.__setitem__(0, n)):
            builder.add(chunk)
        return builder.finish(time.perf_counter() - started, attempts[0])

    def ready(self) -> bool:
        if self.protocol == "http":
            try:
                with urllib.request.urlopen(f"{self._http_base()}/v2/health/ready", timeout=5) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False
        import tritonclient.grpc as grpcclient

        try:
            return grpcclient.InferenceServerClient(self.url).is_server_ready()
        except Exception:
            return False

    def models(self) -> list[ModelInfo]:
        """The served model and, for an ensemble, the models it is composed of. Uses the model's
        config and metadata (the repository index is an admin API, closed to clients here)."""
        config = self._model_config(self.model)
        return [self._model_info(name) for name in [self.model, *ensemble_steps(config)]]

    # -- retries -------------------------------------------------------------------------------
    def _with_retries(self, attempt: Callable[[float], Iterable[tuple[str, int]]], deadline: float,
                      on_attempt: Callable[[int], None] | None) -> Iterator[tuple[str, int]]:
        for number in range(self.retry.attempts):
            if on_attempt:
                on_attempt(number + 1)
            received = False
            try:
                for item in attempt(deadline - time.monotonic()):
                    received = True
                    yield item
                return
            except ServerError as exc:
                if not self.retry.should_retry(exc, number, received):
                    raise
                pause = self.retry.delay_s(number)
                if time.monotonic() + pause >= deadline:
                    raise
                time.sleep(pause)

    # -- transports ----------------------------------------------------------------------------
    def _grpc(self, request: GenerateRequest, stream: bool, timeout_s: float) -> Iterator[tuple[str, int]]:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        if timeout_s <= 0:
            raise RequestTimeoutError(f"no response within {self.timeout_s} s")
        responses: queue.Queue = queue.Queue()
        client = grpcclient.InferenceServerClient(self.url)
        # stream_timeout is a backstop; the queue wait below enforces the deadline exactly.
        client.start_stream(callback=lambda result, error: responses.put((result, error)),
                            stream_timeout=timeout_s + 5)
        try:
            try:
                client.async_stream_infer(self.model, _grpc_inputs(grpcclient, request.inputs(stream)),
                                          enable_empty_final_response=True)
            except InferenceServerException as exc:
                # The stream already failed (e.g. connection refused); the cause went to the callback.
                try:
                    _, error = responses.get(timeout=1.0)
                except queue.Empty:
                    error = exc
                raise grpc_error(error) from None
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    result, error = responses.get(timeout=max(deadline - time.monotonic(), 0.001))
                except queue.Empty:
                    raise RequestTimeoutError(f"no complete answer within {timeout_s:.1f} s; "
                                              "the request was cancelled") from None
                if error is not None:
                    raise grpc_error(error)
                text, count, final = grpc_chunk(result)
                if text is not None:
                    yield text, count
                if final:
                    return
        finally:
            # Cancels the request on the server when we stop early (error, timeout, consumer gone).
            client.stop_stream(cancel_requests=True)
            client.close()

    def _http_base(self) -> str:
        return self.url if self.url.startswith("http") else f"http://{self.url}"

    def _http_body(self, request: GenerateRequest, stream: bool) -> bytes:
        return http_body(request, stream)

    def _http_open(self, url: str, body: bytes | None, timeout_s: float):
        if timeout_s <= 0:
            raise RequestTimeoutError(f"no response within {self.timeout_s} s")
        http_request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(http_request, timeout=timeout_s)
        except urllib.error.HTTPError as exc:
            raise error_from(http_error_message(exc.read().decode("utf-8", "replace")), exc.code) from None
        except urllib.error.URLError as exc:
            raise _url_error(exc, url) from None
        except TimeoutError:
            raise RequestTimeoutError(f"no response from {url} within {timeout_s:.1f} s") from None

    def _http_post(self, path: str, body: bytes, timeout_s: float | None = None):
        return self._http_open(f"{self._http_base()}/v2/models/{self.model}/{path}", body,
                               self.timeout_s if timeout_s is None else timeout_s)

    def _http_generate(self, request: GenerateRequest, timeout_s: float | None = None) -> Iterator[tuple[str, int]]:
        with self._http_post("generate", self._http_body(request, False), timeout_s) as response:
            data = json.loads(_read(response, "generate"))
        if "error" in data:  # Triton can answer 200 with an error body
            raise error_from(str(data["error"]))
        yield data["text_output"], int(data.get("token_count", 0))

    def _http_stream(self, request: GenerateRequest, timeout_s: float | None = None) -> Iterator[tuple[str, int]]:
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        with self._http_post("generate_stream", self._http_body(request, True), timeout_s) as response:
            while True:
                # The socket timeout bounds each read; this bounds the whole stream.
                if time.monotonic() > deadline:
                    raise RequestTimeoutError(f"no complete answer within {timeout_s:.1f} s; the stream was closed")
                raw = _readline(response)
                if not raw:
                    return
                chunk = sse_chunk(raw.decode("utf-8").strip())
                if chunk is not None:
                    yield chunk

    def _http_json(self, path: str) -> dict:
        with self._http_open(f"{self._http_base()}{path}", None, min(self.timeout_s, 30)) as response:
            return json.loads(_read(response, path))

    def _model_config(self, name: str) -> dict:
        if self.protocol == "http":
            return self._http_json(f"/v2/models/{name}/config")
        with _GrpcAdmin(self.url) as client:
            return client.get_model_config(name, as_json=True).get("config", {})

    def _model_info(self, name: str) -> ModelInfo:
        if self.protocol == "http":
            meta = self._http_json(f"/v2/models/{name}")
            try:
                with self._http_open(f"{self._http_base()}/v2/models/{name}/ready", None, 10):
                    ready = True
            except ServerError:
                ready = False
        else:
            with _GrpcAdmin(self.url) as client:
                meta = client.get_model_metadata(name, as_json=True)
                ready = client.is_model_ready(name)
        return ModelInfo(meta.get("name", name), tuple(meta.get("versions", ())),
                         meta.get("platform", ""), bool(ready),
                         tuple(i["name"] for i in meta.get("inputs", ())),
                         tuple(o["name"] for o in meta.get("outputs", ())))


class _GrpcAdmin:
    """A short-lived gRPC client for metadata calls, its errors typed."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        import tritonclient.grpc as grpcclient

        self.client = grpcclient.InferenceServerClient(self.url)
        return self.client

    def __exit__(self, exc_type, exc, tb):
        from tritonclient.utils import InferenceServerException

        self.client.close()
        if isinstance(exc, InferenceServerException):
            raise grpc_error(exc) from None


def _url_error(exc: urllib.error.URLError, url: str) -> ServerError:
    reason = exc.reason
    if isinstance(reason, TimeoutError):
        return RequestTimeoutError(f"{url}: timed out connecting")
    return ServerUnavailableError(f"cannot reach {url}: {reason}")


def _read(response, what: str) -> bytes:
    try:
        return response.read()
    except TimeoutError:
        raise RequestTimeoutError(f"{what}: the server did not answer in time") from None


def _readline(response) -> bytes:
    try:
        return response.readline()
    except TimeoutError:
        raise RequestTimeoutError("the stream stalled past the request's deadline; it was closed") from None
    except (ConnectionError, OSError) as exc:
        raise ServerUnavailableError(f"the stream broke: {exc}") from None
