"""Triton's gRPC endpoint over mutual TLS (client library and gateway), and the admin key out of `ps`."""

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gateway_process import start_gateway, stop_gateway
from suite_ports import test_port
from tls_certs import make_certs

from client import LLMClient, ServerError
from client.settings import TlsFiles
from server.tritonserver import ADMIN_HEADER, GrpcTls, ServerOptions, TritonServer

pytestmark = pytest.mark.integration
ADMIN_KEY = "admin-key-for-the-security-test"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_server(test_repository, certs, tmp_path_factory):
    options = ServerOptions(
        test_repository,
        test_port(1300),
        test_port(1301),
        test_port(1302),
        exit_timeout_s=10,
        admin_key=ADMIN_KEY,
        grpc_tls=GrpcTls(certs.server_cert, certs.server_key, certs.ca),
    )
    with TritonServer(options, log_path=tmp_path_factory.mktemp("log") / "tritonserver.log") as server:
        yield server


def test_the_admin_key_is_not_on_the_command_line_and_still_works(tls_server):
    command_line = Path(f"/proc/{tls_server.process.pid}/cmdline").read_bytes()
    assert b"--http-restricted-api=" in command_line and ADMIN_KEY.encode() not in command_line
    assert tls_server.admin_key_hidden
    url = f"{tls_server.options.http_url}/v2/repository/index"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}"), timeout=10)
    allowed = urllib.request.Request(url, data=b"{}", headers={ADMIN_HEADER: ADMIN_KEY})
    with urllib.request.urlopen(allowed, timeout=10) as response:
        assert {m["name"] for m in json.load(response)} >= {"ensemble", "engine"}
    assert ADMIN_KEY not in Path(tls_server.log_path).read_text()


def test_grpc_over_mutual_tls_needs_the_ca_and_a_client_certificate(tls_server, certs):
    url = tls_server.options.grpc_url
    with_cert = LLMClient(url, timeout_s=60, tls=TlsFiles(certs.ca, certs.client_cert, certs.client_key))
    assert with_cert.generate("Say hello.", max_tokens=4, chat=True).output_tokens == 4
    for refused in (LLMClient(url, timeout_s=10), LLMClient(url, timeout_s=10, tls=TlsFiles(certs.ca))):
        with pytest.raises(ServerError):
            refused.generate("Say hello.", max_tokens=4, chat=True)


def test_the_gateway_reaches_triton_over_mutual_tls(tls_server, certs):
    port = test_port(11030)
    gateway = start_gateway(
        port,
        tls_server.options.grpc_url,
        None,
        "--triton-ca",
        str(certs.ca),
        "--triton-cert",
        str(certs.client_cert),
        "--triton-key",
        str(certs.client_key),
    )
    try:
        body = json.dumps(
            {"model": "ensemble", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert json.load(response)["usage"]["completion_tokens"] == 4
    finally:
        stop_gateway(gateway)
