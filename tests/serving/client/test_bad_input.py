"""One table of bad requests, each sent over HTTP (Triton's generate endpoint), gRPC (a tritonclient
stream) and the OpenAI API (the gateway): every one gets an error with the right status that names
the field and, where there is one, the limit; the server stays ready; and a stream that was
already running when the table started finishes with exactly the text it would have produced alone.

Where Triton 2.51's own frontend answers before our models see the request, the row says so: its
HTTP JSON parser answers a value of the wrong JSON type with 500 and a message that does not name
the field, and gRPC stream errors carry no status code (only the message).
"""

import json
import threading
import urllib.error
import urllib.request

import pytest

from acceptance.bad_input import send_grpc, send_http
from acceptance.bad_input_table import GRPC_MESSAGES, Bad, table
from acceptance.target import Limits, Target
from client import LLMClient

pytestmark = pytest.mark.integration

# The table lives in the product (acceptance/bad_input_table.py), where `make gpu-check` sends it to
# a GPU server; here it is written against the test repository's limits (tests/conftest.py assembles
# it with max_seq_len=512) and the body limit tests/serving/client/conftest.py starts the gateway with.
TABLE = table(Limits(max_text_bytes=65536, max_stop_words=32, max_seq_len=512, gateway_body_limit=200_000))


def _openai_from_inputs(inputs: dict) -> dict:
    body = {"model": "ensemble"}
    renames = {"text_input": "prompt", "stop_words": "stop"}
    for key, value in inputs.items():
        body[renames.get(key, key)] = value
    return body


def _target(server) -> Target:
    o = server.options
    return Target(o.host, o.http_port, o.grpc_port, o.metrics_port)


def _openai(gateway, bad: Bad):
    body = bad.openai_body if bad.openai_body is not None else _openai_from_inputs(bad.inputs)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{gateway}/v1/completions", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["error"]


@pytest.fixture(scope="module")
def stream_in_flight(server):
    """A long greedy stream running while the table is sent; checked by the last test."""
    prompt = "List the planets of the solar system, one per line, with one fact each."
    chunks = []
    done = threading.Event()

    def run():
        try:
            chunks.extend(
                LLMClient(server.options.grpc_url, timeout_s=300).stream(prompt, max_tokens=300, chat=True)
            )
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    yield prompt, chunks, done


@pytest.mark.parametrize("protocol", ["http", "grpc", "openai"])
@pytest.mark.parametrize("bad", TABLE, ids=[b.name for b in TABLE])
def test_bad_input_gets_a_clear_error_and_the_server_stays_ready(
    server, gateway, stream_in_flight, bad, protocol
):
    if protocol == "http":
        status, error = send_http(_target(server), bad)
        assert status == bad.http_status, error
        assert bad.message in error
    elif protocol == "grpc":
        results, errors = send_grpc(_target(server), bad)
        assert errors and not results, "a bad request was answered over gRPC"
        assert GRPC_MESSAGES.get(bad.name, bad.message) in str(errors[0])
    else:
        status, error = _openai(gateway, bad)
        assert status == bad.openai_status, error
        assert (bad.openai_message or bad.message) in error["message"]
        assert error["param"] == bad.param and error["type"] == "invalid_request_error"
    assert server.is_ready()


def test_the_stream_in_flight_was_unaffected(server, stream_in_flight):
    prompt, chunks, done = stream_in_flight
    assert done.wait(300), "the stream running beside the bad requests never finished"
    alone = LLMClient(server.options.grpc_url, timeout_s=300).generate(prompt, max_tokens=300, chat=True)
    assert "".join(chunks) == alone.text and alone.output_tokens > 50
