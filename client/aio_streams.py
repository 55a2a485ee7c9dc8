"""One try of an asyncio request on the wire, as an async iterator of `Piece`s: the gRPC
bidirectional stream (tritonclient.grpc.aio, one client per request) or Triton's HTTP `generate` /
`generate_stream` (httpx). Closing the iterator early cancels the request on the server: the gRPC
call is cancelled, the HTTP connection closed. client/aio.py runs these under its deadline and
retries.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from . import responses, wire
from .errors import RequestTimeoutError, ServerUnavailableError, error_from
from .settings import ClientSettings
from .types import GenerateRequest

JSON = {"Content-Type": "application/json"}


async def grpc_stream(
    settings: ClientSettings,
    request: GenerateRequest | tuple[GenerateRequest, ...],
    stream: bool,
    deadline: float,
) -> AsyncIterator[responses.Piece]:
    """A tuple of requests goes as one request holding that batch of prompts (their Triton request
    parameters are the first's); each Piece's batch_index says which prompt it answers."""
    import grpc
    import tritonclient.grpc as grpcclient
    import tritonclient.grpc.aio as grpcaio

    if isinstance(request, tuple):
        inputs = wire.grpc_batch_inputs(grpcclient, [r.inputs(stream) for r in request])
        request = request[0]
    else:
        inputs = wire.grpc_inputs(grpcclient, request.inputs(stream))
    client = settings._grpc_client(grpcaio)
    finished = asyncio.Event()

    async def requests():
        yield {
            "model_name": settings.model,
            "inputs": inputs,
            "request_id": wire.request_id(),
            "enable_empty_final_response": True,
            "parameters": request.parameters() or None,
        }
        await finished.wait()  # keep our half of the stream open until the answer is complete

    # stream_timeout is a backstop; the caller enforces the deadline on every read.
    replies = client.stream_infer(requests(), stream_timeout=max(deadline - time.monotonic(), 0) + 5)
    complete = False
    try:
        async for result, error in replies:
            text, count, final = responses.grpc_chunk(result, error)
            if text is not None:
                yield responses.grpc_piece(result, text, count)
            if final:
                complete = True
                return
    except grpc.RpcError as exc:
        raise error_from(exc.details() or str(exc), str(exc.code())) from None
    finally:
        finished.set()  # half-close: once it has sent the final response the server ends the RPC
        if complete:
            await _end_rpc(replies)
        else:
            replies.cancel()  # the server sees the stream cancelled and cancels the request
        await client.close()


async def http_generate(
    http, settings: ClientSettings, request: GenerateRequest
) -> AsyncIterator[responses.Piece]:
    """`http`: the client's httpx.AsyncClient."""
    url = f"{settings._http_base()}/v2/models/{settings.model}/generate"
    response = await http_call(lambda: http.post(url, content=_body(request, False), headers=JSON))
    if response.status_code != 200:
        raise responses.http_error(response.text, response.status_code)
    yield responses.generate_answer(response.json())


async def http_stream(
    http, settings: ClientSettings, request: GenerateRequest, stream: bool
) -> AsyncIterator[responses.Piece]:
    import httpx

    url = f"{settings._http_base()}/v2/models/{settings.model}/generate_stream"
    http_request = http.build_request("POST", url, content=_body(request, stream), headers=JSON)
    response = await http_call(lambda: http.send(http_request, stream=True))
    try:
        if response.status_code != 200:
            await response.aread()
            raise responses.http_error(response.text, response.status_code)
        async for line in response.aiter_lines():
            chunk = responses.sse_chunk(line.strip())
            if chunk is not None:
                yield chunk
    except httpx.TransportError as exc:
        raise ServerUnavailableError(f"the stream broke: {exc!r}") from None
    finally:
        await response.aclose()  # closing the connection is how an HTTP client cancels


async def http_call(send: Callable[[], Awaitable]):
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


async def _end_rpc(replies, timeout_s: float = 5.0) -> None:
    """Let the server end a finished stream RPC (OK) rather than see it cancelled by the close."""

    async def rest():
        return [r async for r in replies]

    try:
        await asyncio.wait_for(rest(), timeout_s)
    except Exception:  # a timeout or an RPC error: end it from this side after all
        replies.cancel()


def _body(request: GenerateRequest, stream: bool) -> bytes:
    return json.dumps(wire.json_inputs(request.inputs(stream), request.parameters())).encode()
