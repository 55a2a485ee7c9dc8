"""llama.cpp's llama-server as a benchmark peer.

Built from the llama.cpp source vendored in the `llama-cpp-python` sdist on PyPI (the only
registry these machines reach), cached under artifacts/peers/llama.cpp-<version>/. The checkpoint
is converted with that source's own convert_hf_to_gguf.py (run in the peers' environment,
environment.py) to F32 and Q8_0 GGUF, the precisions
that match our FP32 and INT8 rows. The server runs 16 parallel slots with continuous batching, and
the client streams chat completions exactly as our rows do: same prompts, chat template (the
GGUF's own), 16 closed-loop clients, `max_tokens` tokens each with the end token ignored.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from ..stats import Sample
from . import environment

VERSION = "0.3.36"  # llama-cpp-python; pinned so the cached build matches the source
PRECISIONS = {"fp32": "f32", "int8": "q8_0"}  # our variant → the GGUF type it is compared with
# Off: tests, examples and the prebuilt web UI (fetched from a model hub, which is not reachable).
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
)


def source(work: Path) -> Path:
    """The vendored llama.cpp tree of the pinned sdist (downloaded once)."""
    root = work / f"llama.cpp-{VERSION}"
    tree = root / f"llama_cpp_python-{VERSION}" / "vendor" / "llama.cpp"
    if not (tree / "CMakeLists.txt").is_file():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"llama-cpp-python=={VERSION}",
                "-d",
                str(root),
            ],
            check=True,
        )
        with tarfile.open(root / f"llama_cpp_python-{VERSION}.tar.gz") as sdist:
            sdist.extractall(root, filter="data")
    return tree


def server_binary(work: Path) -> Path:
    """llama-server, built once (about 10 minutes on 2 cores)."""
    tree = source(work)
    build = tree.parent.parent / "build"
    binary = build / "bin" / "llama-server"
    if not binary.is_file():
        subprocess.run(["cmake", "-S", str(tree), "-B", str(build), *CMAKE_FLAGS], check=True)
        subprocess.run(
            ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count())],
            check=True,
        )
    return binary


def gguf(work: Path, checkpoint_dir: Path, precision: str) -> Path:
    """The checkpoint as GGUF of the type matching `precision`, converted once."""
    kind = PRECISIONS[precision]
    out = work / "gguf" / f"{checkpoint_dir.name}-{kind}.gguf"
    if not out.is_file():
        tree = source(work)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(".partial")
        env = {**os.environ, "PYTHONPATH": str(tree / "gguf-py"), "HF_HUB_OFFLINE": "1"}
        subprocess.run(
            [
                str(environment.python(work)),
                str(tree / "convert_hf_to_gguf.py"),
                str(checkpoint_dir),
                "--outtype",
                kind,
                "--outfile",
                str(partial),
            ],
            check=True,
            env=env,
        )
        partial.rename(out)
    return out


class Server:
    """llama-server on `port` with `slots` parallel sequences of `context` tokens each."""

    def __init__(self, binary: Path, model: Path, port: int, slots: int, context: int, log_path: Path):
        self.port = port
        self.command = [
            str(binary),
            "-m",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--parallel",
            str(slots),
            "--ctx-size",
            str(slots * context),
            "--cont-batching",
            "--threads",
            str(os.cpu_count()),
            "--no-webui",
        ]
        self.log_path = log_path

    def __enter__(self) -> Server:
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.process.returncode}; see {self.log_path}")
            try:
                if _get(self.port, "/health") == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise TimeoutError(f"llama-server did not become healthy; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def stream_one(port: int, prompt: str, max_tokens: int) -> Sample:
    """One streamed chat completion: exactly max_tokens tokens (the end token ignored, as our rows'
    min_tokens = max_tokens), greedy; the token count is the server's own usage figure."""
    body = json.dumps(
        {
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "ignore_eos": True,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    sent = time.perf_counter()
    first, tokens = None, 0
    try:
        connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"llama-server: HTTP {response.status}: {response.read()[:200]!r}")
        for line in response:
            if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if first is None and any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                first = time.perf_counter()
    finally:
        connection.close()
    done = time.perf_counter()
    return Sample((first or done) - sent, done - sent, tokens)


def streams(port: int, prompts: list[str], max_tokens: int, concurrency: int):
    """`concurrency` clients, each streaming its requests one after another (bench.runners.triton_streams'
    pattern)."""
    stream_one(port, prompts[0], 2)  # warm-up
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        samples = list(pool.map(lambda p: stream_one(port, p, max_tokens), prompts))
    return samples, time.perf_counter() - started
