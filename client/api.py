"""The synchronous client: `LLMClient`, over gRPC (streaming) and HTTP.

What it promises:
- gRPC: every request to the decoupled ensemble goes over the bidirectional stream (Triton refuses
  unary ModelInfer for decoupled models); tritonclient allows one stream per client object, so each
  call opens its own client, which also lets several calls run concurrently from one process.
  HTTP: `/v2/models/ensemble/generate` (one response) and `/generate_stream` (server-sent events).
- Errors are the typed errors of client/errors.py, carrying the server's message.
- A deadline covers the whole request, retries included; when it passes, or when the caller stops
  reading a stream, the request is cancelled in Triton (gRPC: the stream is cancelled; HTTP: the
  connection is closed). Known limit: Triton 2.51's ensemble stops its remaining steps but does
  not forward the cancellation to the running `engine` request, which generates on to max_tokens.
- Retries (off unless a `RetryPolicy` is given) follow client/retry.py: only before any response,
  only for "cannot connect" and "overloaded"; and, always, one resend with the adapter's weights
  after the C++ backend's LoRA cache miss.
- `GenerationResult` carries the text, the generated-token count, the finish reason, TTFT and the
  time of every chunk (client/types.py).

`client.aio.AsyncLLMClient` is the asyncio twin with the same types.
"""

from __future__ import annotations

import json
import queue
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator

from . import responses, wire
from .errors import RequestTimeoutError, ServerError, ServerUnavailableError, grpc_error
from .retry import AttemptCounter, Retrying, names_adapter
from .settings import ClientSettings
from .types import Chunk, GenerateRequest, GenerationResult, ModelInfo, ResultBuilder, ensemble_steps


class LLMClient(ClientSettings):
    """Blocking client; see ClientSettings for the constructor's arguments."""

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc) -> None:
        pass

    # -- public API ----------------------------------------------------------------------------
    def stream(
        self, prompt: str | GenerateRequest, timeout_s: float | None = None, **kwargs
    ) -> Iterator[str]:
        """Yield text chunks as they arrive. Closing the iterator (or breaking out of the loop)
        cancels the request on the server."""
        for chunk in self.events(GenerateRequest.of(prompt, kwargs), stream=True, timeout_s=timeout_s):
            yield chunk.text

    def events(
        self,
        request: GenerateRequest,
        stream: bool = True,
        timeout_s: float | None = None,
        on_attempt: Callable[[int], None] | None = None,
    ) -> Iterator[Chunk]:
        """Yield every response as a Chunk (text delta, tokens so far, time since sent);
        `on_attempt(n)` is called before the n-th try."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        started = time.perf_counter()
        retrying = Retrying(self.retry, deadline, on_attempt, adapter=names_adapter(request))
        for attempt in retrying:
            with attempt:
                for piece in self._send(retrying.request(request), stream, deadline - time.monotonic()):
                    attempt.received = True
                    yield Chunk.of(piece, time.perf_counter() - started)
                return
            time.sleep(attempt.pause_s)

    def generate(
        self, prompt: str | GenerateRequest, stream: bool = False, timeout_s: float | None = None, **kwargs
    ) -> GenerationResult:
        """The whole answer, with timings (streamed underneath when stream=True)."""
        request = GenerateRequest.of(prompt, kwargs)
        builder = ResultBuilder(request)
        started = time.perf_counter()
        attempts = AttemptCounter()
        for chunk in self.events(request, stream, timeout_s, on_attempt=attempts):
            builder.add(chunk)
        return builder.finish(time.perf_counter() - started, attempts.count)

    def ready(self) -> bool:
        if self.protocol == "http":
            try:
                with urllib.request.urlopen(
                    f"{self._http_base()}/v2/health/ready", timeout=5, context=self._ssl_context()
                ) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False
        import tritonclient.grpc as grpcclient

        try:
            return self._grpc_client(grpcclient).is_server_ready()
        except Exception:
            return False

    def models(self) -> list[ModelInfo]:
        """The served model and, for an ensemble, the models it is composed of. Uses the model's
        config and metadata (the repository index is an admin API, closed to clients here)."""
        config = self._model_config(self.model)
        return [self._model_info(name) for name in [self.model, *ensemble_steps(config)]]

    # -- transports ----------------------------------------------------------------------------
    def _send(self, request: GenerateRequest, stream: bool, timeout_s: float) -> Iterable[responses.Piece]:
        """One try: (text, token_count) per response."""
        if timeout_s <= 0:
            raise RequestTimeoutError(f"no response within {self.timeout_s} s")
        if self.protocol == "grpc":
            return self._grpc(request, stream, timeout_s)
        if stream or request.num_return_sequences > 1:  # /generate takes exactly one response
            return self._http_stream(request, stream, timeout_s)
        return self._http_generate(request, timeout_s)

    def _grpc(self, request: GenerateRequest, stream: bool, timeout_s: float) -> Iterator[responses.Piece]:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        inputs = wire.grpc_inputs(grpcclient, request.inputs(stream))
        replies: queue.Queue = queue.Queue()
        client = self._grpc_client(grpcclient)
        # stream_timeout is a backstop; the queue wait below enforces the deadline exactly.
        client.start_stream(
            callback=lambda result, error: replies.put((result, error)), stream_timeout=timeout_s + 5
        )
        answered = False
        try:
            try:
                client.async_stream_infer(
                    self.model,
                    inputs,
                    request_id=wire.request_id(),
                    enable_empty_final_response=True,
                    parameters=request.parameters() or None,
                )
            except InferenceServerException as exc:
                # The stream already failed (e.g. connection refused); the cause went to the callback.
                try:
                    _, error = replies.get(timeout=1.0)
                except queue.Empty:
                    error = exc
                raise grpc_error(error) from None
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    result, error = replies.get(timeout=max(deadline - time.monotonic(), 0.001))
                except queue.Empty:
                    raise RequestTimeoutError(
                        f"no complete answer within {timeout_s:.1f} s; the request was cancelled"
                    ) from None
                text, count, final = responses.grpc_chunk(result, error)
                if text is not None:
                    yield responses.grpc_piece(result, text, count)
                if final:
                    answered = True
                    return
        finally:
            # Cancels the request on the server when we stop early (error, timeout, consumer gone).
            client.stop_stream(cancel_requests=not answered)
            client.close()

    def _http_open(self, url: str, body: bytes | None, timeout_s: float):
        if timeout_s <= 0:
            raise RequestTimeoutError(f"no response within {self.timeout_s} s")
        http_request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(http_request, timeout=timeout_s, context=self._ssl_context())
        except urllib.error.HTTPError as exc:
            raise responses.http_error(exc.read().decode("utf-8", "replace"), exc.code) from None
        except urllib.error.URLError as exc:
            raise _url_error(exc, url) from None
        except TimeoutError:
            raise RequestTimeoutError(f"no response from {url} within {timeout_s:.1f} s") from None

    def _http_post(self, path: str, request: GenerateRequest, stream: bool, timeout_s: float):
        body = json.dumps(wire.json_inputs(request.inputs(stream), request.parameters())).encode()
        return self._http_open(f"{self._http_base()}/v2/models/{self.model}/{path}", body, timeout_s)

    def _http_generate(self, request: GenerateRequest, timeout_s: float) -> Iterator[responses.Piece]:
        with self._http_post("generate", request, False, timeout_s) as response:
            data = json.loads(_read(response, "generate"))
        yield responses.generate_answer(data)

    def _http_stream(
        self, request: GenerateRequest, stream: bool, timeout_s: float
    ) -> Iterator[responses.Piece]:
        deadline = time.monotonic() + timeout_s
        with self._http_post("generate_stream", request, stream, timeout_s) as response:
            while True:
                # The socket timeout bounds each read; this bounds the whole stream.
                if time.monotonic() > deadline:
                    raise RequestTimeoutError(
                        f"no complete answer within {timeout_s:.1f} s; the stream was closed"
                    )
                raw = _readline(response)
                if not raw:
                    return
                chunk = responses.sse_chunk(raw.decode("utf-8").strip())
                if chunk is not None:
                    yield chunk

    # -- metadata ------------------------------------------------------------------------------
    def _http_json(self, path: str) -> dict:
        with self._http_open(f"{self._http_base()}{path}", None, min(self.timeout_s, 30)) as response:
            return json.loads(_read(response, path))

    def _model_config(self, name: str) -> dict:
        if self.protocol == "http":
            return self._http_json(f"/v2/models/{name}/config")
        with _GrpcAdmin(self) as client:
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
            with _GrpcAdmin(self) as client:
                meta = client.get_model_metadata(name, as_json=True)
                ready = client.is_model_ready(name)
        return ModelInfo.from_metadata(name, meta, ready)


class _GrpcAdmin:
    """A short-lived gRPC client for metadata calls, its errors typed."""

    def __init__(self, settings: ClientSettings):
        self.settings = settings

    def __enter__(self):
        import tritonclient.grpc as grpcclient

        self.client = self.settings._grpc_client(grpcclient)
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
