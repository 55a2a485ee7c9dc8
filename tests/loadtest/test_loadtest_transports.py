"""The SSE transports against a tiny local HTTP server that streams canned events (no Triton needed).

The OpenAI gateway is written elsewhere; this pins the client side to the standard
/v1/chat/completions streaming format (`data: {...}` chunks, a usage chunk, `data: [DONE]`).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadtest import dataset, transports

OPENAI_EVENTS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},  # role only: not a token, not the TTFT
    {"choices": [{"index": 0, "delta": {"content": "Hello"}}]},
    {"choices": [{"index": 0, "delta": {"content": " world"}}]},
    {"choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "length"}]},
    {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}},
]
TRITON_EVENTS = [
    {"text_output": "Hi", "token_count": 1},
    {"text_output": " there", "token_count": 2},
    {"text_output": "", "token_count": 2},
]


class Handler(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.bodies.append((self.path, body))
        if body.get("max_tokens", 0) > 1000:
            payload = json.dumps({"error": {"message": "max_tokens too large"}}).encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        openai = self.path == "/v1/chat/completions"
        events = [json.dumps(e) for e in (OPENAI_EVENTS if openai else TRITON_EVENTS)]
        if openai and not body.get("drop_done"):
            events.append("[DONE]")
        for event in events:
            chunk = f"data: {event}\n\n".encode()
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
            time.sleep(0.02)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def request(max_tokens=3):
    return dataset.Request(dataset.load()[40], max_tokens)  # a multi-turn chat


def test_openai_stream(fake_server):
    record, text = transports.openai_stream(fake_server, request(), transports.Options(ignore_eos=False))
    assert record.ok and text == "Hello world!"
    assert record.output_tokens == 3  # from usage.completion_tokens
    assert len(record.chunk_offsets_s) == 3 and record.ttft_s == record.chunk_offsets_s[0]
    assert 0 < record.ttft_s < record.e2e_s
    path, body = Handler.bodies[-1]
    assert path == "/v1/chat/completions" and body["stream"] is True and body["max_tokens"] == 3
    assert body["messages"] == list(request().prompt.messages) and "min_tokens" not in body
    # No temperature chosen: greedy, as on grpc and http, though the OpenAI API's own default samples.
    assert body["temperature"] == 0.0 and "seed" not in body


def test_openai_stream_without_done_is_an_error(fake_server, monkeypatch):
    options = transports.Options(ignore_eos=False, openai_model="m")
    original = transports._sse

    def without_done(url, path, body, options, on_event, end_ok):
        return original(url, path, {**body, "drop_done": True}, options, on_event, end_ok)

    monkeypatch.setattr(transports, "_sse", without_done)
    record, _ = transports.openai_stream(fake_server, request(), options)
    assert record.status == "error" and "[DONE]" in record.error


def test_http_error_status_is_a_failed_sample(fake_server):
    record, _ = transports.openai_stream(fake_server, request(5000), transports.Options())
    assert record.status == "error" and "400" in record.error and record.e2e_s is None


def test_triton_generate_stream(fake_server):
    record, text = transports.http_stream(fake_server, request(2), transports.Options())
    assert record.ok and text == "Hi there" and record.output_tokens == 2
    path, body = Handler.bodies[-1]
    assert path == "/v2/models/ensemble/generate_stream"
    assert body["exclude_input_in_output"] is True and body["apply_chat_template"] is True
    assert (
        body["min_tokens"] == body["max_tokens"] == 2 and json.loads(body["text_input"])[-1]["role"] == "user"
    )
