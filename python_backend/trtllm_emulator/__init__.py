"""A strict stand-in for TensorRT-LLM 1.2.x's `tensorrtllm` Triton backend, running the CPU engine.

The GPU repository (`make gpu-repo`) cannot run here: no GPU, no TensorRT-LLM. `make emulate-gpu`
assembles it unchanged except for the `engine` model's backend, which becomes this Python-backend
emulator. Every rule it follows is read from build_engines/trtllm/backend_contract.py (facts
about the real backend, each with its source); what it adds is only the engine underneath (the
ONNX CPU engine, python_backend/engine/).

One role per file:
  settings.py   load time: config parameters + engine dir → settings, or the backend's load failure
  framing.py    one request item: engine outputs → the responses the backend would send
  outputs.py    which output tensors a response carries, or the error the backend would send instead
  peft_cache.py the PEFT cache: lora_task_id / lora_weights / lora_config as the executor takes them
  backend.py    the model instance: enqueue, stop requests, cancellation polling, the response thread

Two things the emulator must do itself, measured on the Triton 2.51 here:
  - Triton's Python backend silently drops every output a request did not ask for (the stub prunes
    them before Triton sees them), so Triton never refuses an undeclared output of a Python model.
    The C++ backend's write of such an output fails in Triton's InferenceResponse::AddOutput and the
    response becomes an error; outputs.py reproduces that check against the config Triton loaded.
  - The engine model of an ensemble is never told its request was cancelled (see backend.py).
"""
