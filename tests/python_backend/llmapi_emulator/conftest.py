"""The stand-in's `tensorrt_llm`, importable only while a test module here runs: nowhere else in the
project is it on the path (as only inside the emulated repository's engine model directory)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

STAND_IN = Path(__file__).resolve().parents[3] / "python_backend/llmapi_emulator"
MODULES = (
    "tensorrt_llm",
    "tensorrt_llm.llmapi",
    "tensorrt_llm.executor",
    "tensorrt_llm.sampling_params",
    "tensorrt_llm.llmapi.config_models",
)


@pytest.fixture(scope="module")
def trt():
    """The stand-in's modules by their last name (trt.tensorrt_llm, trt.llmapi, trt.executor, ...) and
    the names tests use most (trt.LLM, trt.SamplingParams, ...); taken off the path and out of
    sys.modules when the module's tests are done."""
    sys.path.insert(0, str(STAND_IN))
    try:
        modules = {name.rsplit(".", 1)[-1]: importlib.import_module(name) for name in MODULES}
        names = {
            "LLM": modules["tensorrt_llm"].LLM,
            "SamplingParams": modules["tensorrt_llm"].SamplingParams,
            "GuidedDecodingParams": modules["llmapi"].GuidedDecodingParams,
            "RequestError": modules["executor"].RequestError,
            "Logprob": modules["executor"].Logprob,
        }
        yield SimpleNamespace(**modules, **names)
    finally:
        sys.path.remove(str(STAND_IN))
        for name in [n for n in sys.modules if n == "tensorrt_llm" or n.startswith("tensorrt_llm.")]:
            del sys.modules[name]
