"""Adapters in the client library: a request names its adapter (lora_name), an unknown adapter is a
typed error naming it, and the C++ backend's LoRA cache miss is answered by resending the request
once with lora_send_weights, for the sync and asyncio clients alike. The wire is replaced by a fake
transport (each client's one-try method), so every try the client makes is seen; the served paths
run in tests/serving/."""

import asyncio

import pytest

from client import AsyncLLMClient, GenerateRequest, LLMClient, RetryPolicy
from client.__main__ import main as cli_main
from client.errors import AdapterNotFoundError, InvalidRequestError, LoraCacheMissError, error_from
from client.responses import Piece

# What a Triton client sees (docs/upstream/lora.md §1.3): the backend's error inside Triton's wrapper.
CACHE_MISS = (
    "in ensemble 'ensemble', Executor failed process requestId 3 due to the following error: "
    "LoRA task 5512 not found in cache. Please send LoRA weights with request"
)
UNKNOWN = "in ensemble 'ensemble', lora_name: adapter 'nope' is not in the adapter directory"


class Backend:
    """The server as a list of answers, one per try: an error message (raised as the client would
    type it) or the answer's text. Records every request sent."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent: list[GenerateRequest] = []

    def pieces(self, request):
        self.sent.append(request)
        answer = self.answers.pop(0)
        if answer.startswith("in ensemble"):
            raise error_from(answer, None)
        return [Piece(text=answer, token_count=1)]


class FakeWireClient(LLMClient):
    def __init__(self, backend, **kwargs):
        super().__init__("localhost:1", **kwargs)
        self.backend = backend

    def _send(self, request, stream, timeout_s):
        return iter(self.backend.pieces(request))


class FakeWireAsyncClient(AsyncLLMClient):
    def __init__(self, backend, **kwargs):
        super().__init__("localhost:1", **kwargs)
        self.backend = backend

    async def _pieces(self, request):
        for piece in self.backend.pieces(request):
            yield piece

    def _attempt(self, request, stream, deadline):
        return self._pieces(request)


def generate(kind, backend, request, **kwargs):
    if kind == "sync":
        return FakeWireClient(backend, **kwargs).generate(request)
    return asyncio.run(FakeWireAsyncClient(backend, **kwargs).generate(request))


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_cache_miss_is_resent_once_with_the_weights(kind):
    backend = Backend(CACHE_MISS, "Paris")
    result = generate(kind, backend, GenerateRequest("Capital?", lora_name="test-lora-a"))
    assert result.text == "Paris" and result.attempts == 2
    # The same request, the second time asking for the adapter's weights.
    first, second = backend.sent
    assert first.lora_send_weights is False and second == first.with_weights()
    assert second.inputs(stream=False)["lora_send_weights"] is True


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_resend_is_not_counted_against_the_retry_policy(kind):
    # No retries at all: the weights resend still happens (the user never sees the miss).
    backend = Backend(CACHE_MISS, "ok")
    assert generate(kind, backend, GenerateRequest("x", lora_name="a"), retry=None).text == "ok"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_second_miss_and_a_miss_without_an_adapter_reach_the_caller(kind):
    # Once only: a miss on the resend (the weights did not help) is the caller's error.
    backend = Backend(CACHE_MISS, CACHE_MISS, "never sent")
    with pytest.raises(LoraCacheMissError, match="LoRA task 5512 not found in cache"):
        generate(kind, backend, GenerateRequest("x", lora_name="a"), retry=RetryPolicy(attempts=3))
    assert len(backend.sent) == 2
    # A request that names no adapter by name has no weights our server could attach.
    backend = Backend(CACHE_MISS, "never sent")
    with pytest.raises(LoraCacheMissError):
        generate(kind, backend, GenerateRequest("x"), retry=RetryPolicy(attempts=3))
    assert len(backend.sent) == 1


def test_server_messages_about_adapters_become_typed_errors():
    error = error_from(UNKNOWN, None)
    assert isinstance(error, AdapterNotFoundError) and isinstance(error, InvalidRequestError)
    assert error.adapter == "nope" and error.field == "lora_name"
    # The engine's words when the adapter left its table, and Triton's NOT_FOUND status over HTTP.
    assert error_from("lora_name: adapter 'x' is not loaded", None).adapter == "x"
    assert isinstance(error_from("lora_name: no such adapter", 404), AdapterNotFoundError)
    # A malformed name is a plain bad input, not "not found".
    bad = error_from("lora_name: '../x' is not an adapter name (1-64 letters, ...)", 400)
    assert type(bad) is InvalidRequestError
    assert isinstance(error_from(CACHE_MISS, "StatusCode.INTERNAL"), LoraCacheMissError)


def test_the_cli_sends_the_adapter_and_names_an_unknown_one(monkeypatch, capsys):
    backend = Backend("Bonjour", UNKNOWN)
    monkeypatch.setattr("client.__main__._client", lambda args: FakeWireClient(backend))
    assert cli_main(["generate", "hi", "--lora", "test-lora-b"]) == 0
    assert backend.sent[0].lora_name == "test-lora-b" and capsys.readouterr().out == "Bonjour\n"
    assert cli_main(["generate", "hi", "--lora", "nope"]) == 1
    assert "the server has no LoRA adapter 'nope'" in capsys.readouterr().err
