"""The servers and the OpenAI gateway the client test modules share.

Every test here that uses `server` runs three times, once per session server of tests/conftest.py:
"cpu", the CPU repository; "emulated-gpu", the GPU repository (`make gpu-repo`'s output) served
through the strict TensorRT-LLM backend emulator; "emulated-pytorch", the PyTorch path's repository
(`make emulate-gpu GPU_ENGINE=pytorch`: the LLM-API engine model over the API's CPU stand-in). So the
clients, streaming, bad input, cancellation and the gateway are checked on every path.

Where the paths differ, a test asks `served_engine` what the served repository's engine is ("cpu",
"trt" or "pytorch", read from the server's own config of `engine`), never which parameter it runs
under, and expects what that engine does.
"""

import json
import urllib.request
from pathlib import Path

import pytest
from gateway_process import start_gateway, stop_gateway
from suite_ports import test_port

from python_backend.triton_io.preprocess import EngineTraits

# The session server fixture behind each parameter (tests/conftest.py).
SERVERS = {
    "cpu": "cpu_server",
    "emulated-gpu": "emulated_gpu_server",
    "emulated-pytorch": "emulated_pytorch_server",
}
# One gateway port per served engine: pytest stops a parameter's gateway before it starts the next one's
# (gateway depends on the session-scoped, parametrized `server`), but a port of its own means
# start_gateway can never take a gateway still closing for the one starting. 11001: test_client_integration.
GATEWAY_PORTS = {"cpu": test_port(11000), "trt": test_port(11002), "pytorch": test_port(11003)}


@pytest.fixture(scope="session", params=list(SERVERS))
def server(request):
    return request.getfixturevalue(SERVERS[request.param])


def served_config(server, model: str) -> dict:
    """`model`'s config as the server loaded it (Triton's HTTP model-configuration endpoint)."""
    url = f"{server.options.http_url}/v2/models/{model}/config"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def engine_of(config: dict) -> str:
    """Which engine a repository's `engine` model runs, from its config: "trt" for the tensorrtllm
    backend (and its emulator), configured by gpt_model_path (the C++ backend's engine directory);
    "pytorch" for the LLM-API engine model, configured by llm_config_path
    (python_backend/llmapi/config.py, always written by build_engines/llmapi); otherwise "cpu", the
    ONNX engine model."""
    parameters = config.get("parameters", {})
    if "gpt_model_path" in parameters:
        return "trt"
    if "llm_config_path" in parameters:
        return "pytorch"
    return "cpu"


@pytest.fixture(scope="session")
def served_engine(server) -> str:
    """ "cpu", "trt" or "pytorch": the engine the server serves (engine_of), asked of the server.

    What depends on it: log probs (the C++ backend's emulator refuses them by name: it does not
    produce them; the CPU engine and the LLM API return them), and whether an HTTP generate stream
    that ends stops the engine (both TensorRT-LLM engine models are stopped by request id)."""
    return engine_of(served_config(server, "engine"))


@pytest.fixture(scope="session")
def engine_traits(server) -> EngineTraits:
    """What preprocessing lets through to the engine, from its parameters as the server loaded them
    (python_backend/triton_io/preprocess.py EngineTraits), e.g. logits only when the engine gathers
    them: a TensorRT-LLM repository's (either path's) gather_*_logits say so, and the emulated ones
    gather none."""
    parameters = served_config(server, "preprocessing").get("parameters", {})
    return EngineTraits.from_parameters({k: v["string_value"] for k, v in parameters.items()})


@pytest.fixture(scope="session")
def tokenizer_dir(server):
    return Path(server.options.model_repository) / "preprocessing" / "1" / "tokenizer"


@pytest.fixture(scope="session")
def prompt_counter(tokenizer_dir):
    """The model repository's tokenizer, as preprocessing and the gateway load it."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)


@pytest.fixture(scope="session")
def gateway(server, served_engine, tokenizer_dir):
    port = GATEWAY_PORTS[served_engine]
    process = start_gateway(port, server.options.grpc_url, tokenizer_dir, "--max-body-bytes", "200000")
    yield f"http://127.0.0.1:{port}"
    stop_gateway(process)
