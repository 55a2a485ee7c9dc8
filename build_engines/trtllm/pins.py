"""The one place the GPU path's versions are pinned.

TensorRT-LLM 1.2.x is the last release line with the TensorRT engine workflow this project uses
(`convert_checkpoint.py` / `quantize.py` → `trtllm-build` → the C++ `tensorrtllm` Triton backend).
An engine only loads in the same TensorRT-LLM (and TensorRT) it was built with, so builds and the
serving container must come from the same release line; `engine` and `gpu-repo` refuse anything else.
"""

from __future__ import annotations

import os
from pathlib import Path

TRTLLM_VERSION = "1.2.1"
TRTLLM_SERIES = "1.2."  # any 1.2.x patch release builds/serves engines of the same format

# NGC Triton image that ships TensorRT-LLM 1.2.1: 26.04 is the first (Triton's compatibility matrix,
# docs/introduction/compatibility.md in triton-inference-server/server: 26.02 ships 1.1.0, 26.03
# 1.2.0, 26.04-26.07 1.2.1; the r26.04 backend Dockerfile builds TENSORRTLLM_REPO_TAG=release/1.2.1).
# Not run on a GPU by this project: `engine` and `launch` check the version actually installed in
# the container (TRTLLM_SERIES), so a wrong tag fails before any work, with that version named.
NGC_TRITON_RELEASE = "26.04"
NGC_IMAGE = f"nvcr.io/nvidia/tritonserver:{NGC_TRITON_RELEASE}-trtllm-python-py3"

# Where the TensorRT-LLM example scripts live (not part of the pip wheel): a checkout of the
# release tag, e.g. `git clone -b v1.2.1 https://github.com/NVIDIA/TensorRT-LLM`.
DEFAULT_EXAMPLES_DIR = "TensorRT-LLM/examples"
EXAMPLES_DIR_ENV = "TRTLLM_EXAMPLES_DIR"
# Where the NGC trtllm image ships them. The sources conflict: the r26.04 backend Dockerfile copies them to
# /app/examples (`WORKDIR /app`, `COPY --from=tensorrt_llm_code /workspace/tensorrt_llm/examples examples`:
# triton-inference-server/tensorrtllm_backend ce68ff5fd0a746eac895cfb4a5677b329c5bc707
# dockerfile/Dockerfile.triton.trt_llm_backend), the same branch's README runs them from
# /app/tensorrt_llm/examples; both are probed, the Dockerfile's first
# (docs/upstream/trtllm-1.2-deployment.md, Q8).
IMAGE_EXAMPLES_DIRS = ("/app/examples", "/app/tensorrt_llm/examples")


def default_examples_dir() -> str:
    """$TRTLLM_EXAMPLES_DIR, else the image's examples directory that exists, else the checkout."""
    found = os.environ.get(EXAMPLES_DIR_ENV)
    if found:
        return found
    shipped = [path for path in IMAGE_EXAMPLES_DIRS if Path(path).is_dir()]
    return shipped[0] if shipped else DEFAULT_EXAMPLES_DIR


FP8_MIN_SM = 89  # FP8 tensor cores: Ada (8.9) and Hopper (9.0) onwards

HOW_TO_GET = (
    f"run inside the NGC image {NGC_IMAGE} (TensorRT-LLM {TRTLLM_SERIES}x) on a GPU machine, "
    f"or `pip install tensorrt-llm=={TRTLLM_VERSION}` on a machine with CUDA"
)
