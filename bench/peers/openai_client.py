"""What the server peers share: their process (started, waited on until /health answers 200,
stopped) and the client side of the 16-stream row, streamed chat completions over HTTP from
closed-loop clients. llama.cpp's llama-server (llamacpp.py) and vLLM's OpenAI server
(vllm_peer.py) both speak this protocol, so both are measured by the same client code.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import subprocess
import time
from pathlib import Path

from ..stats import Sample


class ServerProcess:
    """`command` run as a process of its own, its output in `log_path`, ready once GET /health on
    `port` answers 200 within `ready_timeout_s`; stopped on leaving the `with` block. `name` is
    what errors call it."""

    def __init__(
        self,
        *,
        name: str,
        command: list[str],
        port: int,
        log_path: Path,
        ready_timeout_s: float,
        env: dict[str, str] | None = None,
    ):
        self.name = name
        self.command = command
        self.port = port
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self.env = env

    def __enter__(self) -> ServerProcess:
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.close()
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                if get_status(self.port, "/health") == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise TimeoutError(
            f"{self.name} did not become healthy in {self.ready_timeout_s:.0f} s; see {self.log_path}"
        )

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def get_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def chat_request(prompt: str, max_tokens: int) -> dict:
    """Exactly max_tokens tokens (the end token ignored, as our rows' min_tokens = max_tokens),
    greedy, streamed, with the server's own token count in the last chunk."""
    return {
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def parse_event(line: bytes) -> dict | None:
    """One server-sent-events line as its JSON chunk; None for blank lines and the closing
    `data: [DONE]`."""
    if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
        return None
    return json.loads(line[6:])


def has_text(chunk: dict) -> bool:
    return any(choice.get("delta", {}).get("content") for choice in chunk.get("choices", []))


def stream_one(port: int, prompt: str, max_tokens: int) -> Sample:
    """One streamed chat completion (chat_request); the token count is the server's usage figure."""
    body = json.dumps(chat_request(prompt, max_tokens))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    sent = time.perf_counter()
    first, tokens = None, 0
    try:
        connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"127.0.0.1:{port}: HTTP {response.status}: {response.read()[:200]!r}")
        for line in response:
            chunk = parse_event(line)
            if chunk is None:
                continue
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if first is None and has_text(chunk):
                first = time.perf_counter()
    finally:
        connection.close()
    done = time.perf_counter()
    return Sample((first or done) - sent, done - sent, tokens)


def streams(port: int, prompts: list[str], max_tokens: int, concurrency: int):
    """`concurrency` clients, each streaming its requests one after another
    (bench.runners.triton_streams' pattern)."""
    stream_one(port, prompts[0], 2)  # warm-up
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        samples = list(pool.map(lambda p: stream_one(port, p, max_tokens), prompts))
    return samples, time.perf_counter() - started
