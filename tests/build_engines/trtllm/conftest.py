"""Fixtures for the GPU-path tests: GPU environments and a real tokenizer directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from build_engines.trtllm.environment import Gpu, GpuEnvironment


@pytest.fixture
def no_gpu() -> GpuEnvironment:
    return GpuEnvironment()


@pytest.fixture
def h100() -> GpuEnvironment:
    return GpuEnvironment(
        gpus=(Gpu(0, "NVIDIA H100 80GB HBM3", 90),), trtllm_version="1.2.1", tensorrt_version="10.13.3.9"
    )


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, checkpoint_dir) -> Path:
    # A real tokenizer: gpu-repo writes the xgrammar tokenizer-info file from it. One directory for
    # the session (no test writes into it): assembly caches the loaded tokenizer by path and mtimes,
    # and a directory per test made the contract tests load it again for each (1.6 s apiece).
    path = tmp_path_factory.mktemp("tokenizer")
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "special_tokens_map.json",
    ):
        if (checkpoint_dir / name).is_file():
            shutil.copy2(checkpoint_dir / name, path / name)
    return path
