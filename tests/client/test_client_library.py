"""The client library's shared parts without a server: the ensemble's input table (client/wire.py)
and the one retry loop both clients run (client/retry.py), driven through each client."""

import asyncio

import numpy as np
import pytest

from client import (
    AsyncLLMClient,
    GenerateRequest,
    LLMClient,
    OverloadedError,
    RetryPolicy,
    ServerUnavailableError,
    responses,
    wire,
)
from python_backend.contract.errors import InputError


class FakeGrpc:
    """Stands in for tritonclient.grpc: records the tensors a request is sent as."""

    class InferInput:
        def __init__(self, name, shape, datatype):
            self.name = name
            self.shape = shape
            self.datatype = datatype
            self.array = None

        def set_data_from_numpy(self, array):
            self.array = array


def test_a_request_becomes_the_ensembles_tensors():
    values = GenerateRequest("héllo", max_tokens=8, top_p=0.5, seed=7, stop=("a", "bc"), chat=True).inputs(
        True
    )
    tensors = {t.name: t for t in wire.grpc_inputs(FakeGrpc, values)}
    # None values (temperature, top_k) are not sent: the ensemble's defaults apply.
    assert sorted(tensors) == [
        "apply_chat_template",
        "exclude_input_in_output",
        "max_tokens",
        "seed",
        "stop_words",
        "stream",
        "text_input",
        "top_p",
    ]
    assert tensors["text_input"].datatype == "BYTES" and tensors["text_input"].array.tolist() == [
        ["héllo".encode()]
    ]
    assert tensors["stop_words"].shape == [1, 2]  # one request, two stop words
    assert tensors["max_tokens"].array.dtype == np.int32 and tensors["seed"].array.dtype == np.uint64
    assert wire.json_inputs(values)["stop_words"] == ["a", "bc"] and "temperature" not in wire.json_inputs(
        values
    )


def test_request_parameters_go_beside_the_inputs():
    request = GenerateRequest("hi", speculative_draft_len=4)
    assert request.parameters() == {"speculative_draft_len": 4} and GenerateRequest("hi").parameters() == {}
    assert "speculative_draft_len" not in request.inputs(True)  # not an ensemble input
    assert wire.json_inputs(request.inputs(True), request.parameters())["speculative_draft_len"] == 4


def test_an_integer_that_does_not_fit_its_datatype_is_refused_not_wrapped():
    with pytest.raises(
        InputError, match=r"^max_tokens: must be in \[-2147483648, 2147483647\], got 2147483648"
    ):
        wire.grpc_inputs(FakeGrpc, {"text_input": "hi", "max_tokens": 2**31})
    with pytest.raises(ValueError, match="not an ensemble input: temprature"):
        wire.json_inputs({"temprature": 0.5})


def test_checked_states_the_contracts_limit_under_the_callers_field_name():
    assert wire.checked("max_tokens", 8.0) == 8  # an integral float is an integer
    with pytest.raises(InputError, match=r"^max_completion_tokens: must be >= 1, got 0$"):
        wire.checked("max_tokens", 0, "max_completion_tokens")
    with pytest.raises(InputError, match=r"^max_tokens: must be in \[-2147483648, 2147483647\]"):
        wire.checked("max_tokens", 2**40)


def flaky(failures):
    """A try that fails with each of `failures` in turn, then answers two chunks."""
    calls = []

    def send(*_args):
        calls.append(len(calls))
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        yield responses.Piece("Hel", 1)
        yield responses.Piece("lo", 2)

    return send, calls


def test_the_sync_client_resends_a_refused_request_and_counts_the_tries():
    client = LLMClient(retry=RetryPolicy(attempts=3, backoff_s=0))
    client._send, calls = flaky([ServerUnavailableError("refused"), OverloadedError("queue is full")])
    result = client.generate("hi", max_tokens=2)
    assert (result.text, result.attempts, len(calls)) == ("Hello", 3, 3)
    assert result.finish_reason == "length"  # 2 tokens of max_tokens 2


def test_the_asyncio_client_runs_the_same_loop():
    async def run(failures, policy):
        async with AsyncLLMClient(retry=policy) as client:
            send, calls = flaky(failures)

            async def attempt(*args):
                for item in send(*args):
                    yield item

            client._attempt = attempt
            return await client.generate("hi", max_tokens=4), calls

    result, calls = asyncio.run(
        run([ServerUnavailableError("refused")], RetryPolicy(attempts=2, backoff_s=0))
    )
    assert (result.text, result.attempts, result.finish_reason) == ("Hello", 2, "stop")  # 2 of 4 tokens
    with pytest.raises(ServerUnavailableError):  # attempts used up: the last error stands
        asyncio.run(
            run(
                [ServerUnavailableError("a"), ServerUnavailableError("b")],
                RetryPolicy(attempts=2, backoff_s=0),
            )
        )


def test_no_retry_once_a_response_arrived():
    def send(*_args):
        yield responses.Piece("Hel", 1)
        raise ServerUnavailableError("the stream broke")

    client = LLMClient(retry=RetryPolicy(attempts=3, backoff_s=0))
    client._send = send
    chunks = []
    with pytest.raises(ServerUnavailableError):
        for chunk in client.events(GenerateRequest("hi")):
            chunks.append(chunk.text)
    assert chunks == ["Hel"]  # half an answer cannot be taken back, so it is not resent
