"""GPU path: TensorRT-LLM 1.2.x engines, the `tensorrtllm` Triton backend and its launcher.

Nothing here imports tensorrt_llm: every command can be planned and dry-run on a CPU-only
machine, and a real run checks for a CUDA device and TensorRT-LLM before it starts.
"""
