"""One checked streaming request, over Triton's gRPC or through the OpenAI gateway, and the tally of
many: the load that the soak (bench/soak.py) and the fault injection (bench/chaos.py) generate.

Every request ends as exactly one outcome:
- completed: the stream is whole — over gRPC token counts go 1, then increase with every response
  (1, 2, 3 … at stream_interval 1; by what accumulated at "auto") with no repeat, then exactly
  one final response carrying n; through the gateway one finish_reason, then [DONE];
- rejected: refused before any token because the server is full (queue full, 429), with the
  Retry-After the server asked for, if any;
- error: a clear error (a message from the server, a refused or broken connection, a stream that
  ends without its end marker) — what a client may see while a fault is injected;
- broken: anything else (gap, repeat, two finals, no final, empty text, a hang) — never acceptable.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Outcome:
    kind: str  # completed | rejected | error | broken
    detail: str = ""
    tokens: int = 0
    ttft_s: float | None = None
    retry_after_s: float | None = None


@dataclass
class Tally:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("completed", "rejected", "error", "broken"), 0)
    )
    details: dict[str, list[str]] = field(default_factory=lambda: {"error": [], "broken": []})
    tokens: int = 0
    ttfts: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.counts[outcome.kind] += 1
            if outcome.kind in self.details and len(self.details[outcome.kind]) < 50:
                self.details[outcome.kind].append(outcome.detail)
            if outcome.kind == "completed":
                self.tokens += outcome.tokens
                if outcome.ttft_s is not None:
                    self.ttfts.append(outcome.ttft_s)


def _tensor(grpcclient, name, value, datatype, dtype):
    array = np.asarray([[value]], dtype=dtype)
    tensor = grpcclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def grpc_stream(grpc_url: str, prompt: str, max_tokens: int, timeout_s: float = 120.0) -> Outcome:
    import tritonclient.grpc as grpcclient

    responses: queue.Queue = queue.Queue()
    started = time.perf_counter()
    try:
        client = grpcclient.InferenceServerClient(grpc_url)
        client.start_stream(callback=lambda result, error: responses.put((result, error)))
        client.async_stream_infer(
            "ensemble",
            [
                _tensor(grpcclient, "text_input", prompt.encode(), "BYTES", np.object_),
                _tensor(grpcclient, "max_tokens", max_tokens, "INT32", np.int32),
                _tensor(grpcclient, "apply_chat_template", True, "BOOL", np.bool_),
                _tensor(grpcclient, "stream", True, "BOOL", np.bool_),
            ],
            enable_empty_final_response=True,
        )
    except Exception as exc:  # noqa: BLE001 - a refused connection is a clear error
        return Outcome("error", f"connect: {exc}")
    counts, text, finals, ttft = [], [], 0, None
    try:
        while True:
            try:
                result, error = responses.get(timeout=timeout_s)
            except queue.Empty:
                return Outcome("broken", f"no final response within {timeout_s} s")
            if error is not None:
                message = str(error)
                if "queue is full" in message and not counts:
                    return Outcome("rejected", message)
                return Outcome("error", message or "error without a message")
            if result.as_numpy("text_output") is not None:
                text.append(b"".join(result.as_numpy("text_output").reshape(-1)).decode())
                counts.append(int(result.as_numpy("token_count").reshape(-1)[0]))
                ttft = ttft if ttft is not None else time.perf_counter() - started
            if result.get_response().parameters["triton_final_response"].bool_param:
                finals += 1
                break
    finally:
        client.stop_stream()
        client.close()
    # The first token alone, then responses that each bring at least one token (one per token at
    # stream_interval 1; what accumulated at "auto", the default of the servers chaos and soak
    # start), then the final one: empty, carrying the same count, or with the tokens still held.
    growing = all(before < after for before, after in zip(counts[:-1], counts[1:-1], strict=False))
    held = len(counts) < 2 or counts[-1] >= counts[-2]
    if finals != 1:
        return Outcome("broken", f"{finals} final responses")
    if not counts or counts[0] != 1 or not growing or not held:
        return Outcome("broken", f"token counts {counts[:8]}… are not 1, then increasing … n, n")
    if not "".join(text).strip():
        return Outcome("broken", "empty text")
    return Outcome("completed", tokens=counts[-1], ttft_s=ttft)


def gateway_stream(
    base_url: str, prompt: str, max_tokens: int, api_key: str | None = None, timeout_s: float = 120.0
) -> Outcome:
    body = json.dumps(
        {
            "model": "ensemble",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    headers = {"Content-Type": "application/json"} | (
        {"Authorization": f"Bearer {api_key}"} if api_key else {}
    )
    request = urllib.request.Request(f"{base_url}/v1/chat/completions", data=body.encode(), headers=headers)
    started, ttft, finishes, done, tokens, text = time.perf_counter(), None, 0, False, 0, []
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            for raw in response:
                line = raw.decode().strip()
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    done = True
                    break
                event = json.loads(line[6:])
                if "error" in event:
                    return Outcome("error", event["error"].get("message", "error event"))
                if event.get("usage"):
                    tokens = event["usage"]["completion_tokens"]
                for choice in event.get("choices", []):
                    piece = choice["delta"].get("content")
                    if piece:
                        text.append(piece)
                        ttft = ttft if ttft is not None else time.perf_counter() - started
                    finishes += choice.get("finish_reason") is not None
    except urllib.error.HTTPError as exc:
        retry = exc.headers.get("Retry-After")
        message = exc.read().decode(errors="replace")
        if exc.code == 429:
            return Outcome("rejected", message, retry_after_s=float(retry) if retry else None)
        return Outcome("error", f"HTTP {exc.code}: {message}")
    except (
        OSError,
        ValueError,
        http.client.HTTPException,
    ) as exc:  # refused, reset, timed out, cut mid-stream
        return Outcome("error", f"{type(exc).__name__}: {exc}")
    if not done:  # the connection closed early: SSE's end marker is how a client knows, so it does
        return Outcome("error", f"the stream was cut before [DONE] ({finishes} finish reasons)")
    if finishes != 1:
        return Outcome("broken", f"{finishes} finish reasons before [DONE]")
    if not "".join(text).strip():
        return Outcome("broken", "empty text")
    return Outcome("completed", tokens=tokens, ttft_s=ttft)
