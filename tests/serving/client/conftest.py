"""The servers and the OpenAI gateway the client test modules share.

Every test here that uses `server` runs twice: against the CPU repository and against the GPU
repository (`make gpu-repo`'s output) served through the strict TensorRT-LLM backend emulator, so
the clients, streaming, bad input, cancellation and the gateway are checked on both paths.
"""

from pathlib import Path

import pytest
from gateway_process import start_gateway, stop_gateway
from suite_ports import test_port

GATEWAY_PORT = test_port(11000)


@pytest.fixture(scope="session", params=["cpu", "emulated-gpu"])
def server(request):
    return request.getfixturevalue("cpu_server" if request.param == "cpu" else "emulated_gpu_server")


@pytest.fixture(scope="session")
def tokenizer_dir(server):
    return Path(server.options.model_repository) / "preprocessing" / "1" / "tokenizer"


@pytest.fixture(scope="session")
def prompt_counter(tokenizer_dir):
    """The model repository's tokenizer, as preprocessing and the gateway load it."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)


@pytest.fixture(scope="session")
def gateway(server, tokenizer_dir):
    process = start_gateway(
        GATEWAY_PORT, server.options.grpc_url, tokenizer_dir, "--max-body-bytes", "200000"
    )
    yield f"http://127.0.0.1:{GATEWAY_PORT}"
    stop_gateway(process)
