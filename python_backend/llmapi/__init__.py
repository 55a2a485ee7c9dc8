"""The PyTorch-backend GPU engine step: TensorRT-LLM's LLM API behind the `tensorrt_llm` model's tensors.

Imports `tensorrt_llm` (the NGC image's; in the emulated repository, the stand-in next to model.py).
"""
