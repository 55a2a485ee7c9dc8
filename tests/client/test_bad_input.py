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
from dataclasses import dataclass, field

import numpy as np
import pytest

from client.api import LLMClient

pytestmark = pytest.mark.integration

GATEWAY_BODY_LIMIT = 200_000  # what tests/client/conftest.py starts the gateway with
MAX_TEXT_BYTES, MAX_STOP_WORDS, MAX_SEQ_LEN = 65536, 32, 512  # the test repository's limits

# The ensemble's input types, for building gRPC tensors from a row's inputs.
GRPC_TYPES = {"text_input": "BYTES", "max_tokens": "INT32", "temperature": "FP32", "top_p": "FP32", "top_k": "INT32",
              "stop_words": "BYTES", "temprature": "FP32"}


@dataclass(frozen=True)
class Bad:
    """A mistake, as ensemble inputs; how each protocol expresses it is derived unless given."""
    name: str
    inputs: dict | None
    message: str  # in the HTTP and gRPC error
    param: str | None  # the OpenAI error's `param`
    openai_message: str | None = None  # defaults to `message`
    openai_status: int = 400
    http_status: int = 400
    http_body: bytes | None = None  # when the mistake cannot be written as JSON from `inputs`
    grpc_tensors: list = field(default_factory=list)  # (name, array, datatype) when not from `inputs`
    openai_body: bytes | dict | None = None  # when not derived from `inputs`


def _openai_from_inputs(inputs: dict) -> dict:
    body = {"model": "ensemble"}
    renames = {"text_input": "prompt", "stop_words": "stop"}
    for key, value in inputs.items():
        body[renames.get(key, key)] = value
    return body


TABLE = [
    Bad("empty prompt", {"text_input": "", "max_tokens": 8}, "text_input: must not be empty", "prompt"),
    Bad("prompt longer than the context", {"text_input": "word " * 600, "max_tokens": 8},
        "text_input: prompt is", "prompt"),
    Bad("max_tokens zero", {"text_input": "hi", "max_tokens": 0}, "max_tokens: must be >= 1", "max_tokens",
        openai_message="max_tokens: must be between 1"),
    Bad("max_tokens negative", {"text_input": "hi", "max_tokens": -5}, "max_tokens: must be >= 1", "max_tokens",
        openai_message="max_tokens: must be between 1"),
    Bad("max_tokens beyond the context", {"text_input": "hi", "max_tokens": 100_000},
        f"exceed max_seq_len {MAX_SEQ_LEN}", "max_tokens"),
    Bad("temperature negative", {"text_input": "hi", "max_tokens": 8, "temperature": -1.0}, "temperature",
        "temperature", openai_message="temperature: must be between 0.0 and 2.0"),
    Bad("top_p above 1", {"text_input": "hi", "max_tokens": 8, "top_p": 1.5}, "top_p must be in (0, 1], got 1.5",
        "top_p", openai_message="top_p: must be between 0.0 and 1.0"),
    Bad("top_k negative", {"text_input": "hi", "max_tokens": 8, "top_k": -1}, "top_k must be >= 0, got -1", "top_k",
        openai_message="top_k: must be between 0"),
    Bad("huge stop-word list", {"text_input": "hi", "max_tokens": 8, "stop_words": ["s"] * 40},
        f"stop_words: 40 entries; the limit is {MAX_STOP_WORDS}", "stop"),
    Bad("prompt over the byte limit", {"text_input": "y" * 100_000, "max_tokens": 8},
        f"text_input: 100000 bytes; the limit is {MAX_TEXT_BYTES}", "prompt"),
    # Oversized bodies: Triton 2.51 has no body limit of its own, so the prompt's byte limit is what
    # refuses a 3 MB request; the gateway refuses it before parsing.
    Bad("oversized request body", {"text_input": "z" * 3_000_000, "max_tokens": 8},
        f"text_input: 3000000 bytes; the limit is {MAX_TEXT_BYTES}", None, openai_status=413,
        openai_message=f"the limit is {GATEWAY_BODY_LIMIT}"),
    Bad("missing prompt", {"max_tokens": 8}, "text_input", "prompt", openai_message="prompt: must be a string"),
    Bad("unknown parameter", {"text_input": "hi", "max_tokens": 8, "temprature": 0.5}, "temprature", "temprature",
        # gRPC: Triton itself refuses an input the model does not declare.
        openai_message="temprature: unrecognized request argument"),
    Bad("non-numeric sampling value", {"text_input": "hi", "max_tokens": 8, "temperature": "hot"},
        "Unable to parse 'data'", "temperature", http_status=500,
        grpc_tensors=[("text_input", np.array([[b"hi"]], dtype=object), "BYTES"),
                      ("max_tokens", np.array([[8]], dtype=np.int32), "INT32"),
                      ("temperature", np.array([[b"hot"]], dtype=object), "BYTES")],
        openai_message="temperature: must be a number"),
    Bad("wrong dtype", {"text_input": "hi", "max_tokens": "eight"}, "Unable to parse 'data'", "max_tokens",
        http_status=500,
        grpc_tensors=[("text_input", np.array([[b"hi"]], dtype=object), "BYTES"),
                      ("max_tokens", np.array([[8.0]], dtype=np.float32), "FP32")],
        openai_message="max_tokens: must be an integer"),
    Bad("wrong shape", {"text_input": ["a", "b"], "max_tokens": 8}, "batch size does not match", "prompt",
        grpc_tensors=[("text_input", np.array([[b"a"], [b"b"]], dtype=object), "BYTES"),
                      ("max_tokens", np.array([[8]], dtype=np.int32), "INT32")],
        openai_message="prompt: must be a string (one prompt per request)"),
    Bad("invalid UTF-8", None, "text_input: not valid UTF-8", None,
        http_body=b'{"text_input": "\xff\xfe bad", "max_tokens": 8}',
        grpc_tensors=[("text_input", np.array([[b"\xff\xfe bad"]], dtype=object), "BYTES"),
                      ("max_tokens", np.array([[8]], dtype=np.int32), "INT32")],
        openai_body=b'{"model": "ensemble", "prompt": "\xff\xfe bad"}',
        openai_message="the request body is not valid JSON"),
]
# The gRPC error for a wrong dtype comes from Triton, naming the input and both types.
GRPC_MESSAGES = {"wrong dtype": "max_tokens", "non-numeric sampling value": "temperature",
                 "unknown parameter": "unexpected inference input 'temprature'"}


def _http(server, bad: Bad):
    body = bad.http_body if bad.http_body is not None else json.dumps(bad.inputs).encode()
    request = urllib.request.Request(f"{server.options.http_url}/v2/models/ensemble/generate", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["error"]


def _tensor(name, value):
    datatype = GRPC_TYPES[name]
    if datatype == "BYTES":
        values = value if isinstance(value, list) else [value]
        return name, np.array([[v.encode() for v in values]], dtype=object), datatype
    return name, np.array([[value]], dtype=np.int32 if datatype == "INT32" else np.float32), datatype


def _grpc(server, bad: Bad):
    import tritonclient.grpc as grpcclient

    tensors = bad.grpc_tensors or [_tensor(name, value) for name, value in bad.inputs.items()]
    inputs = []
    for name, array, datatype in tensors:
        tensor = grpcclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    client = grpcclient.InferenceServerClient(server.options.grpc_url)
    results, errors = [], []
    client.start_stream(callback=lambda result, error: (errors if error else results).append(error or result))
    try:
        client.async_stream_infer("ensemble", inputs)
    except Exception as exc:  # refused by the client library before sending (e.g. a ragged shape)
        errors.append(exc)
    client.stop_stream()
    client.close()
    return results, errors


def _openai(gateway, bad: Bad):
    body = bad.openai_body if bad.openai_body is not None else _openai_from_inputs(bad.inputs)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{gateway}/v1/completions", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["error"]


@pytest.fixture(scope="module")
def stream_in_flight(server):
    """A long greedy stream running while the table is sent; checked by the last test."""
    prompt = "List the planets of the solar system, one per line, with one fact each."
    chunks, done = [], threading.Event()

    def run():
        try:
            chunks.extend(LLMClient(server.options.grpc_url, timeout_s=300).stream(prompt, max_tokens=300,
                                                                                    chat=True))
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    yield prompt, chunks, done


@pytest.mark.parametrize("protocol", ["http", "grpc", "openai"])
@pytest.mark.parametrize("bad", TABLE, ids=[b.name for b in TABLE])
def test_bad_input_gets_a_clear_error_and_the_server_stays_ready(server, gateway, stream_in_flight, bad, protocol):
    if protocol == "http":
        status, error = _http(server, bad)
        assert status == bad.http_status, error
        assert bad.message in error
    elif protocol == "grpc":
        results, errors = _grpc(server, bad)
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
