"""The asyncio client: the same requests, results and typed errors as `client.api.LLMClient`.

    async with AsyncLLMClient("localhost:8001") as llm:
        async for text in llm.stream("Hello!", max_tokens=32, chat=True):
            print(text, end="", flush=True)
        result = await llm.generate("Hello!", max_tokens=32, chat=True, timeout_s=10)

What it promises:
- gRPC goes over `tritonclient.grpc.aio` bidirectional streaming, one tritonclient client (one
  stream) per request, so any number of requests may run concurrently on one event loop.
  HTTP goes over httpx (`/generate`, and `/generate_stream` as server-sent events), one shared
  connection pool per AsyncLLMClient (so use one AsyncLLMClient within one event loop, and
  `aclose()` it or use `async with`).
- Cancellation reaches the server: cancelling the task that awaits a request, leaving an
  `async for` early, or closing the stream iterator cancels the gRPC call / closes the HTTP
  stream, and Triton cancels the request (see client/api.py for the ensemble's limit). Leaving an
  `async for` early is noticed when the event loop finalises the iterator (on its next turn in
  CPython); use `async with llm.stream(...) as chunks:` to make it immediate.
- A per-request deadline (`timeout_s`, default the client's) covers the whole request including
  retries, and raises RequestTimeoutError after cancelling the request.
- Retries as in the sync client: only before any response arrived, only for connection failures
  and (unless disabled) an overloaded engine, with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from .api import (
    MODEL,
    Chunk,
    GenerateRequest,
    GenerationResult,
    ModelInfo,
    RequestTimeoutError,
    ResultBuilder,
    RetryPolicy,
    ServerError,
    ServerUnavailableError,
    _grpc_inputs,
    as_request,
    check_client_args,
    ensemble_steps,
    error_from,
    grpc_chunk,
    grpc_error,
    http_body,
    http_error_message,
    retry_policy,
    sse_chunk,
)

__all__ = ["AsyncLLMClient", "ChunkStream"]


class ChunkStream:
    """An async iterator over one request's Chunks that can also be used as `async with` (closing
    it cancels the request if it is still running)."""

    def __init__(self, source: AsyncIterator[Chunk]):
        self._source = source

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> Chunk:
        return await self._source.__anext__()

    async def aclose(self) -> None:
        await self._source.aclose()

    async def __aenter__(self) -> ChunkStream:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class AsyncLLMClient:
    """`url` is host:port for gRPC, host:port or http://host:port for HTTP."""

    def __init__(self, url: str = "localhost:8001", protocol: str = "grpc", timeout_s: float = 300.0,
                 model: str = MODEL, retry: RetryPolicy | int | None = None):
        check_client_args(protocol, timeout_s)
        self.url, self.protocol, self.timeout_s, self.model = url, protocol, timeout_s, model
        self.retry = retry_policy(retry)
        self._http = None  # httpx.AsyncClient, created on first use inside the running loop

    async def __aenter__(self) -> AsyncLLMClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- public API ----------------------------------------------------------------------------
    def events(self, request: GenerateRequest, stream: bool = True, timeout_s: float | None = None,
               on_attempt: Callable[[int], None] | None = None) -> ChunkStream:
        """Every response of one request as a Chunk (text delta, tokens so far, time since sent);
        `on_attempt(n)` is called before the n-th try."""
        return ChunkStream(self._events(request, stream, timeout_s or self.timeout_s, on_attempt))

    def stream(self, prompt: str | GenerateRequest, timeout_s: float | None = None, **kwargs) -> ChunkStream:
        """Chunks of a streamed answer; `chunk.text` is the new text. See `events`."""
        return self.events(as_request(prompt, kwargs), True, timeout_s)

    async def generate(self, prompt: str | GenerateRequest, stream: bool = False, timeout_s: float | None = None,
                       **kwargs) -> GenerationResult:
        """The whole answer with timings (streamed underneath when stream=True)."""
        request = as_request(prompt, kwargs)
        builder, started, attempts = ResultBuilder(request), time.perf_counter(), [1]
        source = self._events(request, stream, timeout_s or self.timeout_s,
                              lambda n: attempts.__setitem__(0, n))
        try:
            async for chunk in source:
                builder.add(chunk)
        finally:
            await source.aclose()  # at once, also when this task is cancelled
        return builder.finish(time.perf_counter() - started, attempts[0])

    async def ready(self) -> bool:
        try:
            if self.protocol == "http":
                response = await self._client().get(f"{self._base()}/v2/health/ready", timeout=5)
                return response.status_code == 200
            import tritonclient.grpc.aio as grpcaio

            client = grpcaio.InferenceServerClient(self.url)
            try:
                return await client.is_server_ready(client_timeout=5)
            finally:
                await client.close()
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False

    async def models(self) -> list[ModelInfo]:
        """The served model and, for an ensemble, its composing models (config + metadata)."""
        config = await self._model_config(self.model)
        return [await self._model_info(name) for name in [self.model, *ensemble_steps(config)]]

    # -- deadline and retries ------------------------------------------------------------------
    async def _events(self, request: GenerateRequest, stream: bool, timeout_s: float,
                      on_attempt: Callable[[int], None] | None) -> AsyncIterator[Chunk]:
        deadline = time.monotonic() + timeout_s
        started = time.perf_counter()
        for number in range(self.retry.attempts):
            if on_attempt:
                on_attempt(number + 1)
            received = False
            source = self._attempt(request, stream, deadline)
            try:
                while True:
                    try:
                        text, count = await _before(deadline, source.__anext__(), timeout_s)
                    except StopAsyncIteration:
                        return
                    received = True
                    yield Chunk(text, count, time.perf_counter() - started)
            except ServerError as exc:
                if not self.retry.should_retry(exc, number, received):
                    raise
                pause = self.retry.delay_s(number)
                if time.monotonic() + pause >= deadline:
                    raise
            finally:
                # Runs on every exit (done, error, timeout, task cancelled, consumer gone) and
                # cancels the server-side request if it is still running.
                await source.aclose()
            await asyncio.sleep(pause)

    def _attempt(self, request: GenerateRequest, stream: bool, deadline: float) -> AsyncIterator[tuple[str, int]]:
        if self.protocol == "grpc":
            return self._grpc(request, stream, deadline)
        return self._http_stream(request, deadline) if stream else self._http_generate(request, deadline)

    # -- gRPC ----------------------------------------------------------------------------------
    async def _grpc(self, request: GenerateRequest, stream: bool, deadline: float) -> AsyncIterator[tuple[str, int]]:
        import grpc
        import tritonclient.grpc as grpcclient
        import tritonclient.grpc.aio as grpcaio

        client = grpcaio.InferenceServerClient(self.url)
        finished = asyncio.Event()

        async def requests():
            yield {"model_name": self.model, "inputs": _grpc_inputs(grpcclient, request.inputs(stream)),
                   "enable_empty_final_response": True}
            await finished.wait()  # keep our half of the stream open until the answer is complete

        # stream_timeout is a backstop; _before() enforces the deadline.
        responses = client.stream_infer(requests(), stream_timeout=max(deadline - time.monotonic(), 0) + 5)
        complete = False
        try:
            async for result, error in responses:
                if error is not None:
                    raise grpc_error(error)
                text, count, final = grpc_chunk(result)
                if text is not None:
                    yield text, count
                if final:
                    complete = True
                    return
        except grpc.RpcError as exc:
            raise error_from(exc.details() or str(exc), str(exc.code())) from None
        finally:
            if not complete:
                responses.cancel()  # the server sees the stream cancelled and cancels the request
            finished.set()
            await client.close()

    # -- HTTP ----------------------------------------------------------------------------------
    def _client(self):
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s, connect=10.0))
        return self._http

    def _base(self) -> str:
        return self.url if self.url.startswith("http") else f"http://{self.url}"

    async def _http_generate(self, request: GenerateRequest, deadline: float) -> AsyncIterator[tuple[str, int]]:
        url = f"{self._base()}/v2/models/{self.model}/generate"
        response = await _http_call(lambda: self._client().post(url, content=http_body(request, False),
                                                                 headers=_JSON))
        if response.status_code != 200:
            raise error_from(http_error_message(response.text), response.status_code)
        data = response.json()
        if "error" in data:  # Triton can answer 200 with an error body
            raise error_from(str(data["error"]))
        yield data["text_output"], int(data.get("token_count", 0))

    async def _http_stream(self, request: GenerateRequest, deadline: float) -> AsyncIterator[tuple[str, int]]:
        import httpx

        url = f"{self._base()}/v2/models/{self.model}/generate_stream"
        http_request = self._client().build_request("POST", url, content=http_body(request, True), headers=_JSON)
        response = await _http_call(lambda: self._client().send(http_request, stream=True))
        try:
            if response.status_code != 200:
                await response.aread()
                raise error_from(http_error_message(response.text), response.status_code)
            async for line in response.aiter_lines():
                chunk = sse_chunk(line.strip())
                if chunk is not None:
                    yield chunk
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"the stream broke: {exc!r}") from None
        finally:
            await response.aclose()  # closing the connection is how an HTTP client cancels

    async def _http_json(self, path: str) -> dict:
        response = await _http_call(lambda: self._client().get(f"{self._base()}{path}", timeout=30))
        if response.status_code != 200:
            raise error_from(http_error_message(response.text), response.status_code)
        return response.json()

    async def _model_config(self, name: str) -> dict:
        if self.protocol == "http":
            return await self._http_json(f"/v2/models/{name}/config")
        return (await self._grpc_admin(lambda c: c.get_model_config(name, as_json=True))).get("config", {})

    async def _model_info(self, name: str) -> ModelInfo:
        if self.protocol == "http":
            meta = await self._http_json(f"/v2/models/{name}")
            ready = (await self._client().get(f"{self._base()}/v2/models/{name}/ready", timeout=10)).status_code == 200
        else:
            meta = await self._grpc_admin(lambda c: c.get_model_metadata(name, as_json=True))
            ready = await self._grpc_admin(lambda c: c.is_model_ready(name))
        return ModelInfo(meta.get("name", name), tuple(meta.get("versions", ())), meta.get("platform", ""),
                         bool(ready), tuple(i["name"] for i in meta.get("inputs", ())),
                         tuple(o["name"] for o in meta.get("outputs", ())))

    async def _grpc_admin(self, call: Callable[[object], Awaitable]):
        import tritonclient.grpc.aio as grpcaio
        from tritonclient.utils import InferenceServerException

        client = grpcaio.InferenceServerClient(self.url)
        try:
            return await call(client)
        except InferenceServerException as exc:
            raise grpc_error(exc) from None
        finally:
            await client.close()


_JSON = {"Content-Type": "application/json"}


async def _before(deadline: float, awaitable: Awaitable, timeout_s: float):
    """Await within the request's deadline; past it, RequestTimeoutError (the awaited read is
    cancelled and the caller's cleanup cancels the request on the server)."""
    try:
        return await asyncio.wait_for(awaitable, max(deadline - time.monotonic(), 0.001))
    except asyncio.TimeoutError:
        raise RequestTimeoutError(f"no complete answer within {timeout_s:.1f} s; the request was cancelled") from None


async def _http_call(send: Callable[[], Awaitable]):
    """Send an HTTP request, its transport failures typed (connect failures are retryable)."""
    import httpx

    try:
        return await send()
    except httpx.ConnectError as exc:
        raise ServerUnavailableError(f"cannot reach the server: {exc}") from None
    except httpx.TimeoutException as exc:
        raise RequestTimeoutError(f"the server did not answer in time: {exc!r}") from None
    except httpx.TransportError as exc:
        raise ServerUnavailableError(f"the connection broke: {exc!r}") from None
