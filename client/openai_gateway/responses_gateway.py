"""One /v1/responses request end to end: read the body, parse it into the chat path's Call
(responses_api.py), ask Triton, and answer with a Response object or its event stream
(responses_events.py). Generation, cancellation and errors work as on the chat path (gateway.py)."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from ..errors import ServerError
from . import responses_output as shapes
from .choices import ChoiceStream
from .context import admit
from .errors import OpenAIError, from_server_error
from .gateway import Gateway, _next, _until_disconnected, read_bounded
from .parsing import Call
from .responses_api import ResponsesCall, parse_responses, renamed
from .responses_events import ResponseEvents
from .schema import read_json


async def respond(gateway: Gateway, request: Request):
    raw = await read_bounded(request, gateway.config.max_body_bytes)
    parsed = parse_responses(read_json(raw), gateway.config.models, gateway.limits.max_seq_len)
    try:
        await asyncio.to_thread(admit, gateway.limits, gateway.counter, parsed.chat, parsed.call)
    except OpenAIError as exc:
        raise renamed(exc) from None
    shape = partial(
        _shape,
        parsed,
        ident=shapes.new_id("resp"),
        created=int(time.time()),
    )
    if parsed.call.stream:
        return await _stream(gateway, request, parsed.call, shape)
    call = parsed.call
    try:
        # Streamed underneath, as on the chat path: a client that goes away cancels its request.
        with gateway.in_flight.hold(call.request.lora_name):
            result = await _until_disconnected(request, gateway.client.generate(call.request, stream=True))
    except ServerError as exc:
        raise _error(exc) from None
    if result is None:  # the client went away; its Triton request was cancelled
        return JSONResponse({}, status_code=499)
    status = shapes.status_of(result.finish_reason)
    output = shapes.output_items(result.text, call.tools, status)
    prompt_tokens = await asyncio.to_thread(gateway.counter.count, call)
    return shape(status, output, shapes.usage(prompt_tokens, result.output_tokens, result.cached_tokens))


def _shape(parsed: ResponsesCall, status: str, output: list, usage: dict | None, *, ident: str, created: int):
    return shapes.response(
        ident=ident,
        created=created,
        model=parsed.call.model,
        echoed=parsed.echoed,
        status=status,
        output=output,
        usage=usage,
    )


def _error(exc: ServerError):
    return renamed(from_server_error(exc, "input"))


async def _stream(gateway: Gateway, request: Request, call: Call, shape):
    chunks = gateway.in_flight.stream(
        call.request.lora_name, gateway.client.events(call.request, stream=True)
    )
    # The first response decides the status: an error before any text is a proper HTTP error.
    try:
        first = await _next(chunks)
    except ServerError as exc:
        await chunks.aclose()
        raise _error(exc) from None
    except BaseException:
        await chunks.aclose()
        raise

    async def body():
        events = ResponseEvents(shape)
        choice = ChoiceStream(call, 0)  # its deltas: trimmed text or tool calls, and the token count
        try:
            for event in events.start():
                yield event
            pending = [first] if first is not None else []
            while True:
                chunk = pending.pop() if pending else await _next(chunks)
                if chunk is None:
                    break
                if await request.is_disconnected():
                    return  # finally cancels the Triton request
                for delta in choice.feed(chunk):
                    for event in events.feed(delta):
                        yield event
            for delta in choice.finish():
                for event in events.feed(delta):
                    yield event
            prompt_tokens = await asyncio.to_thread(gateway.counter.count, call)
            for event in events.finish(shapes.usage(prompt_tokens, choice.tokens, choice.cached)):
                yield event
        except ServerError as exc:  # after the 200 went out: in-band, as OpenAI does
            for event in events.failed(_error(exc)):
                yield event
        finally:
            await chunks.aclose()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
