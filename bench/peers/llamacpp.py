"""llama.cpp's llama-server as a benchmark peer.

Built from the llama.cpp source vendored in the `llama-cpp-python` sdist on PyPI (the only
registry these machines reach), cached under artifacts/peers/llama.cpp-<version>/. The checkpoint
is converted with that source's own convert_hf_to_gguf.py (run in the peers' environment,
environment.py) to F32 and Q8_0 GGUF, the precisions
that match our FP32 and INT8 rows. The server runs 16 parallel slots with continuous batching, and
the client (openai_client.py) streams chat completions exactly as our rows do: same prompts, chat
template (the GGUF's own), 16 closed-loop clients, `max_tokens` tokens each with the end token
ignored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from . import environment
from .openai_client import ServerProcess

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


def command(binary: Path, model: Path, port: int, slots: int, context: int) -> list[str]:
    """llama-server on `port` with `slots` parallel sequences of `context` tokens each."""
    return [
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


def server(
    binary: Path, model: Path, *, port: int, slots: int, context: int, log_path: Path
) -> ServerProcess:
    """The server process, ready (GET /health) within two minutes of its start."""
    return ServerProcess(
        name="llama-server",
        command=command(binary, model, port, slots, context),
        port=port,
        log_path=log_path,
        ready_timeout_s=120,
    )
