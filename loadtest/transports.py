"""One streamed request per call, over gRPC, HTTP SSE or the OpenAI API, timed as metrics.py defines.

Each function sends one request, reads every response as it arrives and returns `(Record, text)`.
They are written for gevent (Locust's runtime): the gRPC path needs `grpc.experimental.gevent.
init_gevent()` called once before any channel exists (locustfile.py does it), the HTTP paths use
geventhttpclient, Locust's own fast client. Errors and timeouts come back as a Record with status
"error"/"timeout" instead of raising, so the caller never loses a sample.

- gRPC: a tritonclient.grpc client per call, hence one bidirectional stream per request/user
  (tritonclient allows one stream per client object); `enable_empty_final_response` so the end
  of the stream is the final-flagged response.
- HTTP: POST /v2/models/ensemble/generate_stream, server-sent events `data: {...}`; the response
  ends with the connection's chunked body.
- OpenAI: POST /v1/chat/completions with `stream: true` and `stream_options.include_usage`; events
  `data: {...}` until `data: [DONE]`; output tokens from `usage.completion_tokens`, else the number
  of non-empty content deltas.
"""

from __future__ import annotations

import json
import queue
import time
from dataclasses import dataclass

import gevent

from client import responses, wire
from client.errors import grpc_error
from client.wire import MODEL

from .dataset import Request
from .metrics import ERROR, OK, TIMEOUT, Record


@dataclass(frozen=True)
class Options:
    """Request settings shared by every call of a run."""

    timeout_s: float = 120.0
    ignore_eos: bool = True  # min_tokens = max_tokens, so output lengths follow the chosen distribution
    temperature: float | None = None  # None: greedy, on every protocol
    top_p: float | None = None
    openai_model: str = MODEL


def ensemble_inputs(request: Request, options: Options, seed: int | None = None) -> dict:
    """The ensemble's inputs as plain values (None = not sent); client.wire makes them tensors or JSON."""
    return {
        "text_input": request.prompt.text_input,
        "max_tokens": request.max_tokens,
        "min_tokens": request.max_tokens if options.ignore_eos else None,
        "stream": True,
        "apply_chat_template": True,
        "exclude_input_in_output": True,
        "temperature": options.temperature,
        "top_p": options.top_p,
        "seed": seed if options.temperature else None,
    }


class _Timing:
    """Collects send → response offsets while a request streams."""

    def __init__(self):
        self.send_s = time.time()
        self.start = time.perf_counter()
        self.ttft_s: float | None = None
        self.offsets: list[float] = []
        self.parts: list[str] = []
        self.tokens = 0

    def chunk(self, text: str, token_count: int | None = None) -> None:
        now = time.perf_counter() - self.start
        if text:
            if self.ttft_s is None:
                self.ttft_s = now
            self.offsets.append(now)
            self.parts.append(text)
        if token_count is not None:
            self.tokens = max(self.tokens, token_count)

    def done(self, status: str = OK, error: str = "", tokens: int | None = None) -> tuple[Record, str]:
        e2e = time.perf_counter() - self.start
        output_tokens = self.tokens if tokens is None else tokens
        record = Record(
            send_s=self.send_s,
            status=status,
            ttft_s=self.ttft_s,
            e2e_s=e2e if status == OK else None,
            output_tokens=output_tokens,
            chunk_offsets_s=self.offsets,
            error=error[:500],
        )
        return record, "".join(self.parts)


def grpc_stream(url: str, request: Request, options: Options, seed: int | None = None) -> tuple[Record, str]:
    import tritonclient.grpc as grpcclient

    replies: queue.Queue = queue.Queue()
    timing = _Timing()
    client = grpcclient.InferenceServerClient(url)
    try:
        client.start_stream(
            callback=lambda result, error: replies.put((result, error)), stream_timeout=options.timeout_s
        )
        inputs = wire.grpc_inputs(grpcclient, ensemble_inputs(request, options, seed))
        timing = _Timing()  # the clock starts at the send, not at the stream set-up
        client.async_stream_infer(MODEL, inputs, enable_empty_final_response=True)
        deadline = time.monotonic() + options.timeout_s
        while True:
            try:
                result, error = replies.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                return timing.done(TIMEOUT, f"no final response within {options.timeout_s} s")
            if error is not None:
                return timing.done(ERROR, str(grpc_error(error)))
            text, count, final = responses.grpc_chunk(result)
            timing.chunk(text or "", count)
            if final:
                return timing.done()
    except Exception as exc:  # noqa: BLE001 — any failure is a failed sample, not a crashed user
        return timing.done(ERROR, f"{type(exc).__name__}: {exc}")
    finally:
        try:
            client.stop_stream(cancel_requests=True)
            client.close()
        except Exception:  # noqa: BLE001
            pass


def _sse(url: str, path: str, body: dict, options: Options, on_event, end_ok: bool) -> tuple[Record, str]:
    """POST body, feed each `data:` payload to on_event(timing, payload) until it says finished.

    The end of the body finishes the request when `end_ok` (Triton's generate_stream closes the
    stream after the final response), else it is an error (OpenAI streams end with [DONE])."""
    from geventhttpclient import URL, HTTPClient

    base = URL(url if url.startswith("http") else f"http://{url}")
    timing = _Timing()
    client = HTTPClient.from_url(
        base, concurrency=1, connection_timeout=10, network_timeout=options.timeout_s
    )
    try:
        with gevent.Timeout(
            options.timeout_s, TimeoutError(f"no final response within {options.timeout_s} s")
        ):
            payload = json.dumps(body).encode()
            timing = _Timing()
            response = client.post(
                path,
                body=payload,
                headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
            )
            if response.status_code != 200:
                detail = response.read().decode("utf-8", "replace")
                return timing.done(ERROR, f"HTTP {response.status_code}: {detail}")
            while True:
                line = response.readline(b"\n")
                if not line:
                    return (
                        timing.done() if end_ok else timing.done(ERROR, "stream ended without data: [DONE]")
                    )
                line = line.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                finished, error = on_event(timing, line[5:].strip())
                if error:
                    return timing.done(ERROR, error)
                if finished:
                    return timing.done(tokens=getattr(timing, "usage_tokens", None))
    except (TimeoutError, gevent.Timeout) as exc:
        return timing.done(TIMEOUT, str(exc))
    except Exception as exc:  # noqa: BLE001
        return timing.done(ERROR, f"{type(exc).__name__}: {exc}")
    finally:
        client.close()


def http_stream(url: str, request: Request, options: Options, seed: int | None = None) -> tuple[Record, str]:
    body = wire.json_inputs(ensemble_inputs(request, options, seed))

    def on_event(timing: _Timing, data: str):
        event = json.loads(data)
        if "error" in event:
            return True, str(event["error"])
        timing.chunk(
            event.get("text_output", ""), int(event["token_count"]) if "token_count" in event else None
        )
        return False, None

    return _sse(url, f"/v2/models/{MODEL}/generate_stream", body, options, on_event, end_ok=True)


def openai_stream(
    url: str, request: Request, options: Options, seed: int | None = None
) -> tuple[Record, str]:
    body: dict = {
        "model": options.openai_model,
        "messages": list(request.prompt.messages),
        "max_tokens": request.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # Unset means greedy on every protocol: the ensemble's default, but not the OpenAI API's (temperature
    # 1), so the gateway is told explicitly; otherwise an openai run would sample where grpc runs do not.
    body["temperature"] = 0.0 if options.temperature is None else options.temperature
    if seed is not None and options.temperature:
        body["seed"] = seed
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if options.ignore_eos:
        body["min_tokens"] = request.max_tokens  # vLLM's extension of the OpenAI API

    def on_event(timing: _Timing, data: str):
        if data == "[DONE]":
            if getattr(timing, "usage_tokens", None) is None:
                timing.usage_tokens = len(timing.offsets)
            return True, None
        event = json.loads(data)
        if "error" in event:
            return True, str(
                event["error"].get("message", event["error"])
                if isinstance(event["error"], dict)
                else event["error"]
            )
        for choice in event.get("choices") or []:
            timing.chunk((choice.get("delta") or {}).get("content") or "")
        usage = event.get("usage")
        if usage and usage.get("completion_tokens") is not None:
            timing.usage_tokens = int(usage["completion_tokens"])
        return False, None

    return _sse(url, "/v1/chat/completions", body, options, on_event, end_ok=False)


PROTOCOLS = {"grpc": grpc_stream, "http": http_stream, "openai": openai_stream}
DEFAULT_HOSTS = {"grpc": "127.0.0.1:8001", "http": "http://127.0.0.1:8000", "openai": "http://127.0.0.1:9000"}
