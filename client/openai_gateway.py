"""An OpenAI-compatible HTTP API in front of the Triton ensemble (FastAPI + uvicorn, Triton gRPC behind).

    python -m client.openai_gateway --host 127.0.0.1 --port 9000 --triton-grpc localhost:8001 \\
        --tokenizer-dir build/model_repository/preprocessing/1/tokenizer

What it promises:
- `POST /v1/completions` and `POST /v1/chat/completions`, with `stream: true` as server-sent events
  ending in `data: [DONE]`; `GET /v1/models`; `GET /health/ready` (200 when Triton is ready).
- Parameters: model (the served name), max_tokens (default 16 for completions, 256 for chat, as
  OpenAI's defaults are unbounded), temperature (unset: the server's greedy default), top_p, stop
  (a string or a list; the stop text is not part of the answer, as with OpenAI), seed, n (only 1),
  echo (completions), stream_options.include_usage, and top_k (an extension, as in vLLM; pass it
  with the SDK's extra_body). Unsupported options (logprobs, best_of > 1, suffix, penalties, tools)
  and parameters OpenAI does not define are refused with 400 rather than silently ignored; a body
  over --max-body-bytes (default 1 MiB) gets 413.
- `usage`: prompt_tokens counted with the model repository's tokenizer (`--tokenizer-dir`, the same
  files preprocessing uses, chat template included); completion_tokens is Triton's token_count.
- Errors are OpenAI error objects {"error": {"message", "type", "param", "code"}}: 400 for bad
  input (param names the field, also for errors Triton found), 404 for an unknown model, 429 with
  Retry-After when Triton's engine queue is full, 503 when Triton cannot be reached, 504 on the
  gateway's per-request timeout.
- A client that disconnects (mid-stream, or while waiting for a non-streamed answer) has its Triton
  request cancelled (noticed at the next token, or within 0.5 s for a non-streamed answer).
  Binds to localhost unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from .aio import AsyncLLMClient
from .api import (
    GenerateRequest,
    InvalidRequestError,
    OverloadedError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    ServerUnavailableError,
)

log = logging.getLogger("triton_llm.openai_gateway")

DEFAULT_TOKENIZER_DIR = Path("build/model_repository/preprocessing/1/tokenizer")
RETRY_AFTER_S = 1
# Triton's input names (as the models name them in errors) → the OpenAI parameter.
SERVER_FIELD_TO_PARAM = {
    "max_tokens": "max_tokens", "runtime_top_p": "top_p", "top_p": "top_p", "temperature": "temperature",
    "runtime_top_k": "top_k", "stop_words": "stop", "seed": "seed",
}


# Every top-level parameter a request may carry; anything else is a 400 naming it (OpenAI does the
# same: a misspelt "temprature" must not silently run with the default).
COMMON_PARAMS = {"model", "max_tokens", "temperature", "top_p", "top_k", "n", "stream", "stream_options", "stop",
                 "seed", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "user"}
COMPLETION_PARAMS = COMMON_PARAMS | {"prompt", "echo", "best_of", "suffix"}
CHAT_PARAMS = COMMON_PARAMS | {"messages", "max_completion_tokens", "top_logprobs", "tools", "tool_choice",
                               "parallel_tool_calls", "response_format", "metadata", "store"}
MAX_BODY_BYTES = 1 << 20
DRAIN_LIMIT_BYTES = 64 << 20  # past this an oversized upload is cut off rather than read to its end


@dataclass(frozen=True)
class GatewayConfig:
    triton_grpc: str = "localhost:8001"
    tokenizer_dir: Path | None = None
    served_model_name: str = "ensemble"
    triton_model: str = "ensemble"
    timeout_s: float = 300.0
    max_body_bytes: int = MAX_BODY_BYTES


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, type_: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid(message: str, param: str | None) -> OpenAIError:
    return OpenAIError(400, message, "invalid_request_error", param)


def from_server_error(exc: ServerError, prompt_param: str) -> OpenAIError:
    """Triton's error → the OpenAI error a client library knows how to handle."""
    if isinstance(exc, OverloadedError):
        return OpenAIError(429, f"The engine is at capacity: {exc}", "rate_limit_error", None, "engine_overloaded",
                           {"Retry-After": str(RETRY_AFTER_S)})
    if isinstance(exc, InvalidRequestError):
        field = exc.field
        param = prompt_param if field in ("text_input", "apply_chat_template") else SERVER_FIELD_TO_PARAM.get(field)
        return invalid(str(exc), param)
    if isinstance(exc, RequestTimeoutError):
        return OpenAIError(504, str(exc), "timeout_error", None, "timeout")
    if isinstance(exc, ServerUnavailableError):
        return OpenAIError(503, f"The inference server is unavailable: {exc}", "service_unavailable_error", None,
                           "triton_unavailable")
    return OpenAIError(500, str(exc), "server_error", None, "triton_error")


# -- request parsing ---------------------------------------------------------------------------
def _number(body: dict, name: str, low: float, high: float, integer: bool = False, default=None):
    value = body.get(name, default)
    if value is None:
        return default
    kind_ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not kind_ok:
        raise invalid(f"{name}: must be {'an integer' if integer else 'a number'}, got {value!r}", name)
    if not low <= value <= high:
        raise invalid(f"{name}: must be between {low} and {high}, got {value}", name)
    return value


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(s for s in stop if s)
    raise invalid("stop: must be a string or a list of strings", "stop")


def _refuse_unsupported(body: dict, chat: bool) -> None:
    unknown = sorted(set(body) - (CHAT_PARAMS if chat else COMPLETION_PARAMS))
    if unknown:
        raise invalid(f"{unknown[0]}: unrecognized request argument", unknown[0])
    if body.get("logit_bias"):
        raise invalid("logit_bias: not supported by this server", "logit_bias")
    n = body.get("n")
    if n not in (None, 1):
        raise invalid(f"n: only 1 is supported, got {n!r}", "n")
    if body.get("best_of") not in (None, 1):
        raise invalid("best_of: only 1 is supported", "best_of")
    if body.get("logprobs") not in (None, False) or body.get("top_logprobs") is not None:
        raise invalid("logprobs: not supported by this server", "logprobs")
    if body.get("suffix"):
        raise invalid("suffix: not supported by this server", "suffix")
    for name in ("presence_penalty", "frequency_penalty"):
        if body.get(name) not in (None, 0, 0.0):
            raise invalid(f"{name}: not supported by this gateway", name)
    if chat and body.get("tools"):
        raise invalid("tools: not supported by this server", "tools")


def sampling(body: dict, default_max_tokens: int) -> dict:
    """The ensemble's sampling inputs from an OpenAI body (validated; errors name the param)."""
    top_p = _number(body, "top_p", 0.0, 1.0)
    if top_p == 0:
        raise invalid("top_p: must be > 0", "top_p")
    seed = _number(body, "seed", 0, 2**64 - 1, integer=True)
    # Newer OpenAI clients send max_completion_tokens (chat); either name is accepted.
    limit = "max_completion_tokens" if body.get("max_tokens") is None and "max_completion_tokens" in body \
        else "max_tokens"
    return {
        "max_tokens": _number(body, limit, 1, 2**31 - 1, integer=True, default=default_max_tokens),
        "temperature": _number(body, "temperature", 0.0, 2.0),
        "top_k": _number(body, "top_k", 0, 2**31 - 1, integer=True) or None,
        "top_p": None if top_p in (None, 1, 1.0) else top_p,
        "seed": seed,
        "stop": _stop(body),
    }


def chat_messages(body: dict) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: must be a non-empty list", "messages")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise invalid(f"messages[{i}]: must be an object with a role", "messages")
        content = message.get("content")
        if isinstance(content, list):  # content parts: only text is meaningful to this model
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise invalid(f"messages[{i}].content: only text parts are supported", "messages")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise invalid(f"messages[{i}].content: must be a string", "messages")
        out.append({"role": message["role"], "content": content})
    return out


def completion_prompt(body: dict) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise invalid("prompt: must be a string (one prompt per request)", "prompt")
    return prompt


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, or 413 once it is known to exceed `limit` (from Content-Length or while reading).

    An oversized body is never held in memory, but it is read to its end (discarded, up to
    DRAIN_LIMIT_BYTES) before the 413 goes out: a client still sending when the server answers and
    closes gets a broken pipe instead of the error (seen with urllib on a 3 MB body)."""
    declared = request.headers.get("content-length", "")
    oversized = declared.isdigit() and int(declared) > limit
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        oversized = oversized or size > limit
        if size > DRAIN_LIMIT_BYTES:
            break
        if not oversized:
            chunks.append(chunk)
    if oversized:
        shown = declared if declared.isdigit() else f"more than {limit}"
        raise OpenAIError(413, f"the request body is {shown} bytes; the limit is {limit}", "invalid_request_error",
                          None, "request_too_large")
    return b"".join(chunks)


# -- answers -----------------------------------------------------------------------------------
class StopTrimmer:
    """Removes a trailing stop string from streamed text, as OpenAI does (the engine's answer ends
    with it). Text that might be the start of a stop string is held back until it cannot be."""

    def __init__(self, stop: tuple[str, ...]):
        self.stop = stop
        self.hold = max((len(s) for s in stop), default=0)
        self.pending = ""

    def feed(self, text: str) -> str:
        if not self.hold:
            return text
        self.pending += text
        ready, self.pending = self.pending[:-self.hold], self.pending[-self.hold:]
        return ready

    def finish(self, stopped: bool) -> str:
        tail, self.pending = self.pending, ""
        if stopped:
            for s in self.stop:
                if tail.endswith(s):
                    return tail[: -len(s)]
        return tail


class PromptCounter:
    """Counts prompt tokens exactly as preprocessing will (same tokenizer files, same template)."""

    def __init__(self, tokenizer_dir: Path | None):
        self.tokenizer = None
        if tokenizer_dir is None:
            log.warning("no --tokenizer-dir: usage.prompt_tokens will be 0")
            return
        from transformers import AutoTokenizer

        if not Path(tokenizer_dir).is_dir():
            raise FileNotFoundError(f"{tokenizer_dir}: tokenizer directory does not exist")
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)

    def text(self, prompt: str) -> int:
        return len(self.tokenizer.encode(prompt, add_special_tokens=True)) if self.tokenizer else 0

    def chat(self, messages: list[dict[str, str]]) -> int:
        if self.tokenizer is None:
            return 0
        try:
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        except Exception:  # noqa: BLE001 - a template error is reported by the server itself
            return 0
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(list(ids))


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def sse(data: dict | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


@dataclass
class Call:
    """One OpenAI request, parsed: what to send to Triton and how to shape the answer."""

    chat: bool
    model: str
    request: GenerateRequest
    prompt_text: str  # completions: the prompt (for echo); chat: ""
    echo: bool
    stream: bool
    include_usage: bool
    prompt_param: str

    @property
    def object(self) -> str:
        return "chat.completion" if self.chat else "text_completion"

    def choice(self, text: str, finish_reason: str | None) -> dict:
        if self.chat:
            return {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason,
                    "logprobs": None}
        return {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}

    def delta(self, text: str | None, finish_reason: str | None, first: bool = False) -> dict:
        if self.chat:
            delta = {"role": "assistant", "content": text or ""} if first else ({"content": text} if text else {})
            return {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {"index": 0, "text": text or "", "finish_reason": finish_reason, "logprobs": None}


# -- the app -----------------------------------------------------------------------------------
def create_app(config: GatewayConfig):
    counter = PromptCounter(config.tokenizer_dir)
    client = AsyncLLMClient(config.triton_grpc, "grpc", timeout_s=config.timeout_s, model=config.triton_model,
                            # Retry only what never reached the engine; an overload goes back to
                            # the caller as 429 + Retry-After (OpenAI clients back off on that).
                            retry=RetryPolicy(attempts=3, backoff_s=0.2, retry_overloaded=False))
    created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await client.aclose()

    app = FastAPI(title="triton-llm OpenAI gateway", docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.exception_handler(OpenAIError)
    async def _openai_error(_request, exc: OpenAIError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.get("/health/ready")
    async def ready():
        if await client.ready():
            return {"status": "ready"}
        raise OpenAIError(503, "the inference server is not ready", "service_unavailable_error", None,
                          "triton_unavailable")

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [_model_card(config.served_model_name, created)]}

    @app.get("/v1/models/{model_id}")
    async def model(model_id: str):
        if model_id != config.served_model_name:
            raise OpenAIError(404, f"The model '{model_id}' does not exist", "invalid_request_error", "model",
                              "model_not_found")
        return _model_card(model_id, created)

    async def parse(request: Request, chat: bool) -> Call:
        raw = await read_bounded(request, config.max_body_bytes)
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise invalid(f"the request body is not valid JSON: {exc}", None) from None
        if not isinstance(body, dict):
            raise invalid("the request body must be a JSON object", None)
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise invalid("model: required", "model")
        if name != config.served_model_name:
            raise OpenAIError(404, f"The model '{name}' does not exist; this server serves "
                              f"'{config.served_model_name}'", "invalid_request_error", "model", "model_not_found")
        _refuse_unsupported(body, chat)
        params = sampling(body, 256 if chat else 16)
        stream_options = body.get("stream_options") or {}
        if not isinstance(stream_options, dict):
            raise invalid("stream_options: must be an object", "stream_options")
        if chat:
            messages = chat_messages(body)
            request_ = GenerateRequest.chat_messages(messages, **params)
            prompt_text, prompt_param = "", "messages"
        else:
            prompt_text = completion_prompt(body)
            request_ = GenerateRequest(prompt_text, chat=False, **params)
            prompt_param = "prompt"
        return Call(chat, name, request_, prompt_text, bool(body.get("echo")) and not chat,
                    bool(body.get("stream")), bool(stream_options.get("include_usage")), prompt_param)

    async def prompt_tokens(call: Call) -> int:
        if call.chat:
            return await asyncio.to_thread(counter.chat, json.loads(call.request.prompt))
        return await asyncio.to_thread(counter.text, call.prompt_text)

    async def complete(request: Request, chat: bool):
        call = await parse(request, chat)
        if call.stream:
            return await stream(request, call)
        try:
            result = await _until_disconnected(request, client.generate(call.request, stream=False))
        except ServerError as exc:
            raise from_server_error(exc, call.prompt_param) from None
        if result is None:  # the client went away; its Triton request was cancelled
            return JSONResponse({}, status_code=499)
        text = StopTrimmer(call.request.stop)
        answer = text.feed(result.text) + text.finish(result.finish_reason == "stop")
        if call.echo:
            answer = call.prompt_text + answer
        return {"id": _id(chat), "object": call.object, "created": int(time.time()), "model": call.model,
                "choices": [call.choice(answer, result.finish_reason)],
                "usage": usage(await prompt_tokens(call), result.output_tokens)}

    async def stream(request: Request, call: Call):
        chunks = client.events(call.request, stream=True)
        # The first response decides the status: an error before any text is a proper HTTP error.
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            first = None
        except ServerError as exc:
            await chunks.aclose()
            raise from_server_error(exc, call.prompt_param) from None
        except BaseException:
            await chunks.aclose()
            raise
        ident, created_at = _id(call.chat), int(time.time())
        kind = "chat.completion.chunk" if call.chat else "text_completion"

        def event(choices: list, extra: dict | None = None) -> str:
            return sse({"id": ident, "object": kind, "created": created_at, "model": call.model,
                        "choices": choices, **(extra or {})})

        async def body():
            trimmer, tokens = StopTrimmer(call.request.stop), 0
            try:
                if call.chat:
                    yield event([call.delta("", None, first=True)])
                elif call.echo:
                    yield event([call.delta(call.prompt_text, None)])
                pending = [first] if first is not None else []
                while True:
                    chunk = pending.pop() if pending else await _next(chunks)
                    if chunk is None:
                        break
                    if await request.is_disconnected():
                        return  # finally cancels the Triton request
                    tokens = max(tokens, chunk.token_count)
                    text = trimmer.feed(chunk.text)
                    if text:
                        yield event([call.delta(text, None)])
                reason = "length" if tokens >= call.request.max_tokens else "stop"
                tail = trimmer.finish(reason == "stop")
                if tail:
                    yield event([call.delta(tail, None)])
                yield event([call.delta(None, reason)])
                if call.include_usage:
                    yield event([], {"usage": usage(await prompt_tokens(call), tokens)})
            except ServerError as exc:  # after the 200 went out: report in-band, as OpenAI does
                yield sse(from_server_error(exc, call.prompt_param).body())
            finally:
                await chunks.aclose()
            yield sse("[DONE]")

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await complete(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        return await complete(request, chat=True)

    return app


async def _next(chunks):
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


async def _until_disconnected(request, awaitable, poll_s: float = 0.5):
    """Await `awaitable`, but cancel it (and so its Triton request) if the HTTP client goes away;
    then None."""
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_s)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return None
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _id(chat: bool) -> str:
    return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"


def _model_card(name: str, created: int) -> dict:
    return {"id": name, "object": "model", "created": created, "owned_by": "triton-llm"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client.openai_gateway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--triton-grpc", default="localhost:8001", help="Triton's gRPC endpoint")
    parser.add_argument("--tokenizer-dir", type=Path, default=None,
                        help=f"tokenizer for usage.prompt_tokens (default {DEFAULT_TOKENIZER_DIR} if it exists)")
    parser.add_argument("--served-model-name", default="ensemble", help="the model name clients send")
    parser.add_argument("--triton-model", default="ensemble")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request before 504")
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES, help="larger bodies get 413")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tokenizer_dir = args.tokenizer_dir or (DEFAULT_TOKENIZER_DIR if DEFAULT_TOKENIZER_DIR.is_dir() else None)
    try:
        app = create_app(GatewayConfig(args.triton_grpc, tokenizer_dir, args.served_model_name, args.triton_model,
                                       args.timeout, args.max_body_bytes))
    except (FileNotFoundError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
