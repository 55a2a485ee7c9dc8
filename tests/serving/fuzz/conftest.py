"""The fuzz runs against the session's tritonserver and a gateway of its own."""

import pytest
from gateway_process import start_gateway, stop_gateway
from suite_ports import test_port


@pytest.fixture(scope="module")
def fuzz_gateway(server):
    port = test_port(11050)
    process = start_gateway(port, server.options.grpc_url, None)
    yield f"http://127.0.0.1:{port}"
    stop_gateway(process)
