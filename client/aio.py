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
- Retries as in the sync client (client/retry.py): only before any response arrived, only for
  connection failures and (unless disabled) an overloaded engine, with exponential backoff and jitter;
  and one resend with the adapter's weights after the C++ backend's LoRA cache miss.

One try on the wire (the gRPC stream, HTTP generate / generate_stream) is client/aio_streams.py;
this file is the client: its API, the deadline and retries around each try, and model metadata.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from . import aio_streams, responses
from .errors import RequestTimeoutError, grpc_error
from .retry import AttemptCounter, Retrying, RetryPolicy, names_adapter
from .settings import MODEL, ClientSettings, TlsFiles
from .types import Chunk, GenerateRequest, GenerationResult, ModelInfo, ResultBuilder, ensemble_steps

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


class AsyncLLMClient(ClientSettings):
    """See ClientSettings for the constructor's arguments."""

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
        super().__init__(url, protocol, timeout_s=timeout_s, model=model, retry=retry, tls=tls)
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
    def events(
        self,
        request: GenerateRequest,
        stream: bool = True,
        timeout_s: float | None = None,
        on_attempt: Callable[[int], None] | None = None,
    ) -> ChunkStream:
        """Every response of one request as a Chunk (text delta, tokens so far, time since sent);
        `on_attempt(n)` is called before the n-th try."""
        return ChunkStream(self._events(request, stream, timeout_s or self.timeout_s, on_attempt))

    def batch_events(
        self, requests: list[GenerateRequest], stream: bool = True, timeout_s: float | None = None
    ) -> ChunkStream:
        """Every response of ONE Triton request holding these requests' prompts as a batch (gRPC
        only; they must send the same inputs, e.g. differ only in prompt): the engine schedules them
        together, and each chunk's batch_index says which request it answers."""
        return ChunkStream(self._events(self._batch(requests), stream, timeout_s or self.timeout_s, None))

    def stream(self, prompt: str | GenerateRequest, timeout_s: float | None = None, **kwargs) -> ChunkStream:
        """Chunks of a streamed answer; `chunk.text` is the new text. See `events`."""
        return self.events(GenerateRequest.of(prompt, kwargs), True, timeout_s)

    async def generate(
        self, prompt: str | GenerateRequest, stream: bool = False, timeout_s: float | None = None, **kwargs
    ) -> GenerationResult:
        """The whole answer with timings (streamed underneath when stream=True)."""
        request = GenerateRequest.of(prompt, kwargs)
        builder = ResultBuilder(request)
        started = time.perf_counter()
        attempts = AttemptCounter()
        source = self._events(request, stream, timeout_s or self.timeout_s, attempts)
        try:
            async for chunk in source:
                builder.add(chunk)
        finally:
            await source.aclose()  # at once, also when this task is cancelled
        return builder.finish(time.perf_counter() - started, attempts.count)

    async def generate_batch(
        self, requests: list[GenerateRequest], timeout_s: float | None = None
    ) -> list[GenerationResult]:
        """Each request's whole answer, all sent as ONE batched Triton request (see batch_events;
        streamed underneath). The timings are the whole batch's."""
        builders = [ResultBuilder(request) for request in requests]
        started = time.perf_counter()
        source = self._events(self._batch(requests), True, timeout_s or self.timeout_s, None)
        try:
            async for chunk in source:
                builders[chunk.batch_index].add(chunk)
        finally:
            await source.aclose()
        return [builder.finish(time.perf_counter() - started) for builder in builders]

    async def ready(self) -> bool:
        try:
            if self.protocol == "http":
                response = await self._client().get(f"{self._http_base()}/v2/health/ready", timeout=5)
                return response.status_code == 200
            import tritonclient.grpc.aio as grpcaio

            client = self._grpc_client(grpcaio)
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

    async def model_config(self, name: str | None = None) -> dict:
        """A model's configuration as Triton states it (JSON form; default the served model): e.g.
        its steps' `parameters`, where the gateway reads the server's LoRA limits."""
        return await self._model_config(name or self.model)

    def _batch(self, requests: list[GenerateRequest]) -> tuple[GenerateRequest, ...]:
        if self.protocol != "grpc":
            raise ValueError("a batch of prompts in one request is sent over gRPC only")
        if not requests:
            raise ValueError("a batch needs at least one request")
        return tuple(requests)

    # -- deadline and retries ------------------------------------------------------------------
    async def _events(
        self,
        request: GenerateRequest | tuple[GenerateRequest, ...],
        stream: bool,
        timeout_s: float,
        on_attempt: Callable[[int], None] | None,
    ) -> AsyncIterator[Chunk]:
        deadline = time.monotonic() + timeout_s
        started = time.perf_counter()
        retrying = Retrying(self.retry, deadline, on_attempt, adapter=names_adapter(request))
        for attempt in retrying:
            source = self._attempt(retrying.request(request), stream, deadline)
            try:
                with attempt:
                    while True:
                        try:
                            piece = await _before(deadline, source.__anext__(), timeout_s)
                        except StopAsyncIteration:
                            return
                        attempt.received = True
                        yield Chunk.of(piece, time.perf_counter() - started)
            finally:
                # Runs on every exit (done, error, timeout, task cancelled, consumer gone) and
                # cancels the server-side request if it is still running.
                await source.aclose()
            await asyncio.sleep(attempt.pause_s)

    def _attempt(
        self, request: GenerateRequest | tuple[GenerateRequest, ...], stream: bool, deadline: float
    ) -> AsyncIterator[responses.Piece]:
        if self.protocol == "grpc":
            return aio_streams.grpc_stream(self, request, stream, deadline)
        if not stream and request.num_return_sequences == 1:  # all /generate takes is one response
            return aio_streams.http_generate(self._client(), self, request)
        return aio_streams.http_stream(self._client(), self, request, stream)

    # -- the HTTP connection pool, model metadata ---------------------------------------------
    def _client(self):
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=10.0), verify=self._ssl_context() or True
            )
        return self._http

    async def _http_json(self, path: str) -> dict:
        response = await aio_streams.http_call(
            lambda: self._client().get(f"{self._http_base()}{path}", timeout=30)
        )
        if response.status_code != 200:
            raise responses.http_error(response.text, response.status_code)
        return response.json()

    async def _model_config(self, name: str) -> dict:
        if self.protocol == "http":
            return await self._http_json(f"/v2/models/{name}/config")
        return (await self._grpc_admin(lambda c: c.get_model_config(name, as_json=True))).get("config", {})

    async def _model_info(self, name: str) -> ModelInfo:
        if self.protocol == "http":
            meta = await self._http_json(f"/v2/models/{name}")
            response = await self._client().get(f"{self._http_base()}/v2/models/{name}/ready", timeout=10)
            ready = response.status_code == 200
        else:
            meta = await self._grpc_admin(lambda c: c.get_model_metadata(name, as_json=True))
            ready = await self._grpc_admin(lambda c: c.is_model_ready(name))
        return ModelInfo.from_metadata(name, meta, ready)

    async def _grpc_admin(self, call: Callable[[object], Awaitable]):
        import tritonclient.grpc.aio as grpcaio
        from tritonclient.utils import InferenceServerException

        client = self._grpc_client(grpcaio)
        try:
            return await call(client)
        except InferenceServerException as exc:
            raise grpc_error(exc) from None
        finally:
            await client.close()


async def _before(deadline: float, awaitable: Awaitable, timeout_s: float):
    """Await within the request's deadline; past it, RequestTimeoutError (the awaited read is
    cancelled and the caller's cleanup cancels the request on the server).

    Awaited in the caller's task, not through asyncio.wait_for: before Python 3.12, wait_for returns
    the awaited result when the caller is cancelled just as the result arrives, and the cancellation
    is lost. The gateway cancels a request this way when its HTTP client goes away; lost, the request
    went on generating to max_tokens (found: about one disconnect in twenty-five)."""
    budget = max(deadline - time.monotonic(), 0.001)
    try:
        if sys.version_info < (3, 11):  # no asyncio.timeout: the race above remains on 3.10
            return await asyncio.wait_for(awaitable, budget)
        async with asyncio.timeout(budget):
            return await awaitable
    except asyncio.TimeoutError:
        raise RequestTimeoutError(
            f"no complete answer within {timeout_s:.1f} s; the request was cancelled"
        ) from None
