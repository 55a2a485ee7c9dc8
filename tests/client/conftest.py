"""The OpenAI gateway in front of the session's tritonserver, shared by the client test modules."""

from pathlib import Path

import pytest
from gateway_process import start_gateway, stop_gateway

GATEWAY_PORT = 29000


@pytest.fixture(scope="session")
def tokenizer_dir(server):
    return Path(server.options.model_repository) / "preprocessing" / "1" / "tokenizer"


@pytest.fixture(scope="session")
def gateway(server, tokenizer_dir):
    process = start_gateway(GATEWAY_PORT, server.options.grpc_url, tokenizer_dir, "--max-body-bytes", "200000")
    yield f"http://127.0.0.1:{GATEWAY_PORT}"
    stop_gateway(process)
