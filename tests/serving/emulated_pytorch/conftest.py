"""The PyTorch path's emulated repository (`make emulate-gpu GPU_ENGINE=pytorch`: gpu-repo --gpu-engine
pytorch, its LLM API served by the CPU stand-in) on a real tritonserver, once per session, on
TEST_PORT_BASE + 200..202 (tests/emulated_gpu_servers.py).

`server` is that server here, so the client tests this directory takes from tests/serving/client
(test_pytorch_clients.py) run against it as they run against the CPU and engine-path repositories; so are
the other fixtures of tests/serving/client/conftest.py they use (tokenizer_dir, prompt_counter, gateway).
"""

from pathlib import Path

import pytest
from gateway_process import start_gateway, stop_gateway
from suite_ports import test_port

GATEWAY_PORT = test_port(11070)


# The client tests tell TensorRT-LLM repositories from the CPU one by this parameter ("emulated-gpu": a
# stream stopped by request id, which Triton's HTTP generate endpoint does not carry; logits only when
# the engine gathers them). The PyTorch path shares both, so it takes the value; its id says which it is.
@pytest.fixture(scope="session", params=["emulated-gpu"], ids=["emulated-pytorch"])
def server(emulated_pytorch_server):
    return emulated_pytorch_server


@pytest.fixture(scope="session")
def tokenizer_dir(server):
    return Path(server.options.model_repository) / "preprocessing" / "1" / "tokenizer"


@pytest.fixture(scope="session")
def prompt_counter(tokenizer_dir):
    """The model repository's tokenizer, as preprocessing loads it."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)


@pytest.fixture(scope="session")
def gateway(server, tokenizer_dir):
    process = start_gateway(
        GATEWAY_PORT, server.options.grpc_url, tokenizer_dir, "--max-body-bytes", "200000"
    )
    yield f"http://127.0.0.1:{GATEWAY_PORT}"
    stop_gateway(process)
