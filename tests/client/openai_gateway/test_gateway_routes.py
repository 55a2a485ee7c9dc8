"""The OpenAI gateway's routes in-process (FastAPI's TestClient), Triton replaced by a fake client
that streams a canned answer: what each route answers, without a server. (The real paths run in
test_client_integration.py and test_bad_input.py.)"""

import json

import pytest
from fastapi.testclient import TestClient

from client.errors import OverloadedError
from client.openai_gateway.gateway import GatewayConfig
from client.openai_gateway.routes import create_app
from client.types import Chunk, ResultBuilder


class FakeTriton:
    """Answers every request with "The capital is Paris." in three chunks, 6 tokens."""

    PIECES = [("The capital", 2), (" is Par", 4), ("is.", 6)]

    def __init__(self, error=None):
        self.error = error
        self.requests = []

    def events(self, request, stream=True):
        self.requests.append(request)
        return self._chunks()

    async def _chunks(self):
        if self.error:
            raise self.error
        for text, count in self.PIECES:
            yield Chunk(text, count)

    async def generate(self, request, stream=False):
        builder = ResultBuilder(request)
        async for chunk in self.events(request):
            builder.add(chunk)
        return builder.finish(0.1)

    async def ready(self):
        return True

    async def aclose(self):
        pass


@pytest.fixture
def gateway():
    app = create_app(GatewayConfig(served_model_name="smol", max_body_bytes=1000))
    fake = FakeTriton()
    app.state.gateway.client = fake
    with TestClient(app) as http:
        yield http, fake


def test_models_and_health(gateway):
    http, _ = gateway
    assert [m["id"] for m in http.get("/v1/models").json()["data"]] == ["smol"]
    assert http.get("/v1/models/gpt-4").status_code == 404
    assert http.get("/health/ready").json() == {"status": "ready"}


def test_a_whole_completion_maps_the_parameters_and_the_finish_reason(gateway):
    http, fake = gateway
    answer = http.post(
        "/v1/completions", json={"model": "smol", "prompt": "Capital?", "max_tokens": 6, "stop": "."}
    ).json()
    assert fake.requests[-1].max_tokens == 6 and fake.requests[-1].stop == (".",)
    # 6 tokens of max_tokens 6: "length", so the trailing stop text is kept (it was not what stopped it).
    assert answer["object"] == "text_completion" and answer["choices"][0]["finish_reason"] == "length"
    assert answer["choices"][0]["text"] == "The capital is Paris."
    assert answer["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 6,
        "total_tokens": 6,
    }  # no tokenizer: 0


def test_a_streamed_chat_ends_with_the_reason_usage_and_done(gateway):
    http, _ = gateway
    body = {
        "model": "smol",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 50,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    lines = [line[6:] for line in http.post("/v1/chat/completions", json=body).text.splitlines() if line]
    assert lines[-1] == "[DONE]"
    events = [json.loads(line) for line in lines[:-1]]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert (
        "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
        == "The capital is Paris."
    )
    assert events[-2]["choices"][0]["finish_reason"] == "stop"  # 6 tokens of 50
    assert events[-1]["usage"]["completion_tokens"] == 6


@pytest.mark.parametrize(
    "body, status, param, message",
    [
        (
            {"model": "smol", "prompt": "hi", "temperature": 3},
            400,
            "temperature",
            "temperature: must be in [0, 2]",
        ),
        (
            {"model": "smol", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0},
            400,
            "max_completion_tokens",
            "max_completion_tokens: must be >= 1",
        ),
        # In the API's words, not the wire's int32 range (issue 30); no repository here, so no context known.
        ({"model": "smol", "prompt": "hi", "max_tokens": 2**31}, 400, "max_tokens", "must be between 1 and"),
        ({"model": "other", "prompt": "hi"}, 404, "model", "this server serves 'smol'"),
        ({"model": "smol", "prompt": "x" * 2000}, 413, None, "the limit is 1000"),
    ],
)
def test_bad_requests_are_openai_errors(gateway, body, status, param, message):
    http, _ = gateway
    path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
    response = http.post(path, json=body)
    error = response.json()["error"]
    assert response.status_code == status and error["param"] == param and message in error["message"]


def test_an_overloaded_engine_is_429_with_retry_after(gateway):
    http, fake = gateway
    fake.error = OverloadedError("engine queue is full; retry later")
    response = http.post("/v1/completions", json={"model": "smol", "prompt": "hi", "stream": True})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
