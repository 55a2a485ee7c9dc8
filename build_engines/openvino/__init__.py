"""The OpenVINO variants (ov-fp32, ov-bf16, ov-int8): the checkpoint exported with optimum-intel in
its own environment (environment.py), gated against PyTorch like the ONNX variants, and
assembled into a CPU repository whose engine model runs python_backend/openvino/."""
