"""Helpers of the LoRA serving tests: write an adapter into LORA_DIR, send a request with plain
tritonclient, read the metrics port."""

from __future__ import annotations

import queue
import shutil
from pathlib import Path

import numpy as np

MAX_LORAS = 2
MAX_LORA_RANK = 8


def metrics_text(server) -> str:
    import urllib.request

    url = f"http://{server.options.host}:{server.options.metrics_port}/metrics"
    return urllib.request.urlopen(url, timeout=10).read().decode()


def publish(made: Path, lora_dir: Path, name: str) -> Path:
    """Write an adapter into the server's LORA_DIR under `name` (written beside, then renamed in, so
    the server never sees half a directory)."""
    staging = lora_dir.parent / f".{name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(made, staging)
    target = lora_dir / name
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _tensor(grpcclient, name, array):
    t = grpcclient.InferInput(name, list(array.shape), grpcclient.np_to_triton_dtype(array.dtype))
    t.set_data_from_numpy(array)
    return t


def ensemble_inputs(
    grpcclient, prompt: str, max_tokens: int, lora_name: str | None, min_tokens: int = 0, extra=None
):
    """extra: more inputs by name, numpy arrays with the batch dimension."""
    inputs = [
        _tensor(grpcclient, "text_input", np.array([[prompt.encode()]], dtype=np.object_)),
        _tensor(grpcclient, "max_tokens", np.array([[max_tokens]], dtype=np.int32)),
    ]
    if min_tokens:
        inputs.append(_tensor(grpcclient, "min_tokens", np.array([[min_tokens]], dtype=np.int32)))
    if lora_name is not None:
        inputs.append(_tensor(grpcclient, "lora_name", np.array([[lora_name.encode()]], dtype=np.object_)))
    inputs.extend(_tensor(grpcclient, name, array) for name, array in (extra or {}).items())
    return inputs


def grpc_generate(
    url: str, prompt: str, max_tokens: int, lora_name: str | None = None, min_tokens: int = 0, extra=None
):
    """One non-streaming request to the ensemble with plain tritonclient: (text, token_count), or the
    InferenceServerException the server answered with."""
    import tritonclient.grpc as grpcclient

    answers: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(url)
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        client.async_stream_infer(
            "ensemble",
            ensemble_inputs(grpcclient, prompt, max_tokens, lora_name, min_tokens, extra),
            enable_empty_final_response=True,
        )
        text, count = "", 0
        while True:
            result, error = answers.get(timeout=180)
            if error is not None:
                return error
            if result.as_numpy("text_output") is not None:
                text += "".join(v.decode() for v in result.as_numpy("text_output").reshape(-1))
                count = int(result.as_numpy("token_count").reshape(-1)[0])
            if result.get_response().parameters["triton_final_response"].bool_param:
                return text, count
    finally:
        client.stop_stream()
        client.close()
