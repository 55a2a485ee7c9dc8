"""A strict CPU stand-in for the part of TensorRT-LLM 1.2.1's LLM API that the PyTorch-path engine
model uses (python_backend/llmapi). It exists only inside the emulated repository's engine model
directory (copied there as engine/1/tensorrt_llm/); nowhere else does `import tensorrt_llm` succeed.

Every constructor accepts exactly the fields of the pinned extract (python_backend/contract/
llmapi_fields.json) with its defaults, and refuses anything else by name; what the CPU engine cannot
reproduce is refused by name too (llmapi/engine_setup.py, executor/to_engine.py).
"""

from ._extract import pinned_version
from .llmapi import LLM, SamplingParams

__version__ = pinned_version()

__all__ = ["LLM", "SamplingParams", "__version__"]
