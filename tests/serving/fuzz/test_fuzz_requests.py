"""Property-based fuzz of the three edges with generated malformed requests (strategies.py beside
this file): Triton's HTTP generate, its gRPC stream and the OpenAI gateway. For every request: an
answer, never a crash or a hang; no 5xx except Triton 2.51's own JSON parser's 500 for a value of
the wrong JSON type (TRITON_PARSER_500 below); the gateway never 5xx. Meanwhile a stream repeated
alongside must keep giving exactly the text it gives alone.

FUZZ_EXAMPLES (default 2100, split 45/45/10 % over HTTP, gateway and gRPC) sets the total; `make
chaos` runs more. Derandomized, so a run in CI is reproducible; a failure prints its example.
"""

import collections
import os
import queue
import threading
import time
import urllib.error
import urllib.request

import pytest
import tritonclient.grpc as grpcclient
from hypothesis import HealthCheck, given, settings
from strategies import generate_bodies, grpc_inputs, openai_requests

from client import LLMClient

pytestmark = pytest.mark.integration
TOTAL = int(os.environ.get("FUZZ_EXAMPLES", "2100"))
BUDGET = {"http": int(TOTAL * 0.45), "gateway": int(TOTAL * 0.45), "grpc": TOTAL - 2 * int(TOTAL * 0.45)}
SENT = dict.fromkeys(BUDGET, 0)
GRPC_OUTCOMES: collections.Counter = collections.Counter()  # final / error / refused by the client library
# Triton 2.51's HTTP frontend parses the JSON body before any model sees it and answers 500 when it
# cannot: a value of the wrong JSON type (test_bad_input.py), and — found by this fuzz — a body that
# is not a JSON document, or a JSON document that is not an object. Nothing of ours runs before
# those; every other 5xx fails the test.
TRITON_PARSER_500 = (
    "Unable to parse",
    "failed to parse the request JSON buffer",
    "attempt to get members for non-object",
)


def fuzz_settings(edge: str):
    return settings(
        max_examples=BUDGET[edge],
        deadline=None,
        database=None,
        derandomize=True,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )


class Bystander:
    """One ordinary stream after another, each compared with the same request made before the fuzz."""

    PROMPT = "Describe the sea in detail."
    TOKENS = 32

    def __init__(self, grpc_url: str):
        self.client = LLMClient(grpc_url, timeout_s=120)
        self.expected = self.client.generate(self.PROMPT, max_tokens=self.TOKENS, chat=True).text
        self.runs = 0
        self.problems = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                text = "".join(self.client.stream(self.PROMPT, max_tokens=self.TOKENS, chat=True))
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                self.problems.append(repr(exc))
                continue
            self.runs += 1
            if text != self.expected:
                self.problems.append(f"text differs: {text!r}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)


@pytest.fixture(scope="module")
def bystander(server):
    running = Bystander(server.options.grpc_url)
    yield running
    running.stop()


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def test_http_generate(server, bystander):
    url = f"{server.options.http_url}/v2/models/ensemble/generate"

    @fuzz_settings("http")
    @given(body=generate_bodies())
    def one(body):
        SENT["http"] += 1
        status, text = _post(url, body)
        assert status < 500 or (status == 500 and any(m in text for m in TRITON_PARSER_500)), (status, text)

    one()
    assert server.is_ready()


def test_openai_gateway(server, bystander, fuzz_gateway):
    @fuzz_settings("gateway")
    @given(request=openai_requests())
    def one(request):
        path, body, content_type = request
        SENT["gateway"] += 1
        status, text = _post(fuzz_gateway + path, body, content_type)
        assert status < 500, (status, text)
        if status >= 400:
            assert '"error"' in text  # an OpenAI error object, whatever went wrong

    one()
    assert (
        _post(fuzz_gateway + "/v1/completions", b'{"model": "ensemble", "prompt": "Hi", "max_tokens": 2}')[0]
        == 200
    )


class GrpcStream:
    """One stream for every generated request: each is sent with its own id and waited for until its
    error or its final response."""

    def __init__(self, grpc_url: str):
        self.client = grpcclient.InferenceServerClient(grpc_url)
        self.responses: queue.Queue = queue.Queue()
        self.client.start_stream(callback=lambda result, error: self.responses.put((result, error)))

    def send(self, request_id: str, inputs) -> str:
        tensors = []
        for name, dtype, array in inputs:
            tensor = grpcclient.InferInput(name, list(array.shape), dtype)
            tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        self.client.async_stream_infer(
            "ensemble", tensors, request_id=request_id, enable_empty_final_response=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            result, error = self.responses.get(timeout=max(deadline - time.monotonic(), 0.01))
            if error is not None:
                return "error"  # gRPC stream errors carry no request id; one request is out at a time
            final = result.get_response().parameters["triton_final_response"].bool_param
            if result.get_response().id == request_id and final:
                return "final"
        raise AssertionError(f"request {request_id}: no final response or error within 60 s")

    def close(self) -> None:
        self.client.stop_stream()
        self.client.close()


def test_grpc_stream(server, bystander):
    stream = GrpcStream(server.options.grpc_url)

    @fuzz_settings("grpc")
    @given(inputs=grpc_inputs())
    def one(inputs):
        SENT["grpc"] += 1
        try:
            GRPC_OUTCOMES[stream.send(f"fuzz-{SENT['grpc']}", inputs)] += 1
        except Exception as exc:  # the client library refusing to build the request is no server fault
            if "tritonclient" not in type(exc).__module__ and not isinstance(exc, (ValueError, TypeError)):
                raise
            GRPC_OUTCOMES["refused by the client library"] += 1

    try:
        one()
    finally:
        stream.close()
    assert server.is_ready()
    # Most requests must reach the server for the fuzz to mean anything.
    assert GRPC_OUTCOMES["error"] + GRPC_OUTCOMES["final"] > BUDGET["grpc"] // 2, GRPC_OUTCOMES


def test_the_stream_alongside_was_unaffected(bystander):
    bystander.stop()
    assert bystander.problems == [] and bystander.runs >= 1
    assert sum(SENT.values()) >= min(TOTAL, 2000), SENT
