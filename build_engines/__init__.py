"""Checkpoint → ONNX / TensorRT-LLM engines → an assembled, deployable Triton model repository."""
