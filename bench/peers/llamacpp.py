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

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from . import environment
from .openai_client import ServerProcess

VERSION = "0.3.36"  # llama-cpp-python; pinned so the cached build matches the source
PRECISIONS = {"fp32": "f32", "int8": "q8_0"}  # our variant → the GGUF type it is compared with
# AMX off. GGML_NATIVE=ON compiles with -march=native, which on a Xeon with AMX turns on ggml's AMX
# kernels (ggml-cpu/amx/mmq.cpp; the GGML_AMX_* options only apply with GGML_NATIVE=OFF). Those
# kernels build their tile configuration on the stack and load it with _tile_loadconfig, which GCC 12
# (amxtileintrin.h line 42) writes as inline asm whose memory operand is 8 bytes wide: GCC drops the
# stores of the tile rows and columns, ldtilecfg loads palette 1 with no tile configured, and the
# first tilezero of a Q8_0 matmul raises #UD. llama-server then dies of SIGILL (exit -4) in its
# warm-up decode; F32 weights never reach those kernels. Upstream report: ggml-org/llama.cpp PR 26954
# ("the compiler optimizes it away, leaving an invalid config to _tile_loadconfig"). The same PR
# reports a second AMX crash on other hosts (Linux's per-thread XFD), so AMX stays off on every
# host; the other -march=native extensions (AVX512, VNNI, BF16) stay on. Explicit -mno-* flags win
# over the ones -march=native implies, in either order.
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
# Off too: tests, examples and the prebuilt web UI (fetched from a model hub, which is not reachable).
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    f"-DCMAKE_C_FLAGS={NO_AMX}",
    f"-DCMAKE_CXX_FLAGS={NO_AMX}",
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


def build_dir(tree: Path, flags: tuple[str, ...] = CMAKE_FLAGS) -> Path:
    """The build folder of `tree` with `flags`, named by their digest: a binary built with other flags
    (such as the earlier AMX build, which crashes) is never reused."""
    digest = hashlib.sha256("\n".join(flags).encode()).hexdigest()[:10]
    return tree.parent.parent / f"build-{digest}"


def server_binary(work: Path) -> Path:
    """llama-server, built once per set of flags (about 10 minutes on 2 cores)."""
    tree = source(work)
    build = build_dir(tree)
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
