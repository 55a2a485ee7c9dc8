"""Adapters through the OpenAI gateway, in-process (FastAPI's TestClient, which is an httpx client,
so the official openai package talks to it), with Triton replaced by a fake that records what it is
sent and answers as the ensemble would: `"model": "<adapter>"` becomes lora_name, /v1/models lists
adapters with their parent, unknown names are 404 naming them, and vLLM's load/unload routes write
the adapter directory. (Served with a real Triton: tests/serving/client/test_gateway_lora_served.py.)"""

import json
import os

import openai
import pytest
from fastapi.testclient import TestClient

from client.aio import AsyncLLMClient
from client.errors import error_from
from client.openai_gateway.gateway import GatewayConfig
from client.openai_gateway.routes import AccessConfig, create_app
from client.responses import Piece
from client.types import Chunk, ResultBuilder

BASE = "smollm2-135m-instruct"


class FakeTriton:
    """Answers "Paris." (2 tokens); a request for an adapter in `refuse` gets the engine's refusal.
    Its engine step states max_lora_rank 8, as the engine model's config parameters do."""

    def __init__(self):
        self.requests = []
        self.refuse: dict[str, str] = {}

    def events(self, request, stream=True):
        self.requests.append(request)
        return self._chunks(request)

    async def _chunks(self, request):
        if request.lora_name in self.refuse:
            raise error_from(f"in ensemble 'ensemble', {self.refuse[request.lora_name]}", None)
        yield Chunk("Paris.", 2)

    async def generate(self, request, stream=False):
        builder = ResultBuilder(request)
        async for chunk in self.events(request):
            builder.add(chunk)
        return builder.finish(0.1)

    async def generate_batch(self, requests):
        return [await self.generate(request) for request in requests]

    async def model_config(self, name=None):
        configs = {
            "ensemble": {
                "ensemble_scheduling": {"step": [{"model_name": "preprocessing"}, {"model_name": "engine"}]}
            },
            "preprocessing": {"parameters": {"lora_dir": {"string_value": "/adapters"}}},
            "engine": {
                "parameters": {"max_lora_rank": {"string_value": "8"}, "max_loras": {"string_value": "4"}}
            },
        }
        return configs[name or "ensemble"]

    async def ready(self):
        return True

    async def aclose(self):
        pass


def write_adapter(folder, rank=8, base=f"/checkpoints/{BASE}"):
    """A PEFT adapter's two files as the gateway reads them (the weights are the engine's to read)."""
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": 16, "base_model_name_or_path": base}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    return folder


@pytest.fixture
def lora_dir(tmp_path):
    root = tmp_path / "lora_adapters"
    write_adapter(root / "test-lora-a")
    write_adapter(root / ".staging" / "new-one", rank=4)
    return root


def start(lora_dir, runtime=True, keys=()):
    config = GatewayConfig(
        served_model_name=BASE, lora_dir=lora_dir, allow_runtime_lora=runtime, base_model=BASE
    )
    app = create_app(config, AccessConfig(api_keys=tuple(keys)))
    fake = FakeTriton()
    app.state.gateway.client = fake
    return app, fake


@pytest.fixture
def gateway(lora_dir):
    app, fake = start(lora_dir)
    with TestClient(app) as http:
        sdk = openai.OpenAI(
            base_url="http://testserver/v1", api_key="unused", http_client=http, max_retries=0
        )
        yield http, sdk, fake, app


def test_models_lists_the_base_model_and_each_adapter_with_its_parent(gateway, lora_dir):
    _, sdk, _, _ = gateway
    models = {m.id: m for m in sdk.models.list()}
    # .staging is hidden (a name starting with '.'), so only test-lora-a is an adapter.
    assert list(models) == [BASE, "test-lora-a"]
    assert models["test-lora-a"].parent == BASE and models["test-lora-a"].root == str(
        lora_dir / "test-lora-a"
    )
    assert models[BASE].parent is None
    assert sdk.models.retrieve("test-lora-a").parent == BASE


def test_the_model_field_chooses_the_adapter_on_every_route(gateway):
    _, sdk, fake, _ = gateway
    answer = sdk.chat.completions.create(model="test-lora-a", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Paris." and answer.model == "test-lora-a"
    assert fake.requests[-1].lora_name == "test-lora-a"
    sdk.completions.create(model="test-lora-a", prompt=["a", "b"], max_tokens=2)
    assert [r.lora_name for r in fake.requests[-2:]] == ["test-lora-a", "test-lora-a"]
    sdk.responses.create(model="test-lora-a", input="hi")
    assert fake.requests[-1].lora_name == "test-lora-a"
    # The base model's name (and the Triton model's) means no adapter.
    sdk.completions.create(model=BASE, prompt="a")
    sdk.completions.create(model="ensemble", prompt="a")
    assert [r.lora_name for r in fake.requests[-2:]] == [None, None]


def test_an_unknown_model_or_adapter_is_a_404_naming_it(gateway):
    http, sdk, fake, _ = gateway
    for call in (
        lambda: sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}]),
        lambda: sdk.models.retrieve("nope"),
        lambda: sdk.completions.create(model="../nope", prompt="x"),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        error = caught.value.body
        assert error["code"] == "model_not_found" and error["param"] == "model" and "nope" in error["message"]
    # The directory lost it after the request was parsed: the engine's NOT_FOUND is the same 404.
    fake.refuse["test-lora-a"] = "lora_name: adapter 'test-lora-a' is not in the adapter directory"
    response = http.post("/v1/completions", json={"model": "test-lora-a", "prompt": "x"})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "The model 'test-lora-a' does not exist",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_load_links_a_folder_of_the_directory_under_its_name_and_warms_it(gateway, lora_dir):
    http, sdk, fake, _ = gateway
    response = http.post(
        "/v1/load_lora_adapter",
        json={"lora_name": "new-one", "lora_path": str(lora_dir / ".staging" / "new-one")},
    )
    assert (
        response.status_code == 200 and response.text == "Success: LoRA adapter 'new-one' added successfully."
    )
    link = lora_dir / "new-one"
    assert link.is_symlink() and os.readlink(link) == os.path.join(".staging", "new-one")  # relative
    assert fake.requests[-1].lora_name == "new-one" and fake.requests[-1].max_tokens == 1  # the warm-up
    assert [m.id for m in sdk.models.list()] == [BASE, "new-one", "test-lora-a"]
    # A folder already under its name registers in place; a name taken by another folder is vLLM's 400.
    in_place = http.post(
        "/v1/load_lora_adapter", json={"lora_name": "test-lora-a", "lora_path": str(lora_dir / "test-lora-a")}
    )
    assert in_place.status_code == 200
    duplicate = http.post(
        "/v1/load_lora_adapter", json={"lora_name": "new-one", "lora_path": str(lora_dir / "test-lora-a")}
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["message"] == "The lora adapter 'new-one' has already been loaded."


@pytest.mark.parametrize(
    "body, message",
    [
        ({"lora_name": "x"}, "Both 'lora_name' and 'lora_path' must be provided."),
        ({"lora_name": "x", "lora_path": "/etc"}, "lora_path: /etc is not inside the adapter directory"),
        ({"lora_name": "../x", "lora_path": "{dir}/test-lora-a"}, "'../x' is not an adapter name"),
        ({"lora_name": BASE, "lora_path": "{dir}/test-lora-a"}, "is the base model's name"),
        (
            {"lora_name": "big", "lora_path": "{dir}/big"},
            "'big' cannot be loaded: rank 16 > the server's max_lora_rank 8",
        ),
        (
            {"lora_name": "other", "lora_path": "{dir}/other"},
            "its base model 'Qwen/Qwen2-0.5B' is not the served model",
        ),
        (
            {"lora_name": "empty", "lora_path": "{dir}/empty"},
            "has no adapter_config.json and adapter_model.safetensors",
        ),
    ],
)
def test_load_refuses_by_name_what_does_not_fit(gateway, lora_dir, body, message):
    http, _, fake, _ = gateway
    write_adapter(lora_dir / ".big", rank=16).rename(lora_dir / "big")
    write_adapter(lora_dir / ".other", base="Qwen/Qwen2-0.5B").rename(lora_dir / "other")
    (lora_dir / "empty").mkdir()
    body = {k: v.format(dir=lora_dir) for k, v in body.items()}
    sent = len(fake.requests)
    response = http.post("/v1/load_lora_adapter", json=body)
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert len(fake.requests) == sent  # refused before any warm-up


def test_an_adapter_the_engine_refuses_leaves_the_directory_again(gateway, lora_dir):
    http, _, fake, _ = gateway
    # The engine's AdapterError text (engine/lora_weights.py), with no field prefix: not a typed 400.
    fake.refuse["new-one"] = "adapter 'new-one': target module gate_proj is not in this export"
    body = {"lora_name": "new-one", "lora_path": str(lora_dir / ".staging" / "new-one")}
    response = http.post("/v1/load_lora_adapter", json=body)
    assert response.status_code == 400
    assert "target module gate_proj is not in this export" in response.json()["error"]["message"]
    assert not (lora_dir / "new-one").is_symlink() and (lora_dir / ".staging" / "new-one").is_dir()


def test_unload_waits_for_requests_in_flight_and_keeps_the_files(gateway, lora_dir):
    http, sdk, _, app = gateway
    http.post(
        "/v1/load_lora_adapter",
        json={"lora_name": "new-one", "lora_path": str(lora_dir / ".staging" / "new-one")},
    )
    with app.state.gateway.in_flight.hold("new-one"):  # a request of this gateway still generating
        busy = http.post("/v1/unload_lora_adapter", json={"lora_name": "new-one"})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "adapter_in_use"
    done = http.post("/v1/unload_lora_adapter", json={"lora_name": "new-one"})
    assert done.status_code == 200 and done.text == "Success: LoRA adapter 'new-one' removed successfully."
    # The link is gone, the folder it named is untouched.
    assert (
        not (lora_dir / "new-one").exists()
        and (lora_dir / ".staging" / "new-one" / "adapter_config.json").is_file()
    )
    # A real folder is renamed to a hidden name, never deleted.
    assert http.post("/v1/unload_lora_adapter", json={"lora_name": "test-lora-a"}).status_code == 200
    (hidden,) = [p for p in lora_dir.iterdir() if p.name.startswith(".unloaded-test-lora-a-")]
    assert (hidden / "adapter_model.safetensors").read_bytes() == b"weights"
    assert [m.id for m in sdk.models.list()] == [BASE]
    unknown = http.post("/v1/unload_lora_adapter", json={"lora_name": "test-lora-a"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "The lora adapter 'test-lora-a' cannot be found."


def test_the_in_flight_count_follows_streamed_answers(gateway):
    http, _, _, app = gateway
    body = {"model": "test-lora-a", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert "Paris." in http.post("/v1/chat/completions", json=body).text
    assert http.post("/v1/completions", json={"model": "test-lora-a", "prompt": "x"}).status_code == 200
    assert app.state.gateway.in_flight.count("test-lora-a") == 0  # every answer released it


def test_runtime_loading_is_off_unless_allowed_and_behind_the_api_key(lora_dir):
    body = {"lora_name": "new-one", "lora_path": str(lora_dir / ".staging" / "new-one")}
    app, _ = start(lora_dir, runtime=False)
    with TestClient(app) as http:
        for path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
            assert http.post(path, json=body).status_code == 404  # the routes do not exist, as in vLLM
    app, _ = start(lora_dir, keys=["secret-key-1"])
    with TestClient(app) as http:
        assert http.post("/v1/load_lora_adapter", json=body).status_code == 401
        assert not (lora_dir / "new-one").exists()
        headers = {"Authorization": "Bearer secret-key-1"}
        assert http.post("/v1/load_lora_adapter", json=body, headers=headers).status_code == 200


class CacheMissWire(AsyncLLMClient):
    """The gateway's real asyncio client over a fake transport (its one-try method): the first try
    of each adapter request gets the C++ backend's cache miss, as after an eviction."""

    def __init__(self):
        super().__init__("localhost:1")
        self.sent = []

    async def _pieces(self, request):
        self.sent.append(request)
        if request.lora_name and not request.lora_send_weights:
            raise error_from(
                "Executor failed process requestId 9 due to the following error: LoRA task 77 not found "
                "in cache. Please send LoRA weights with request",
                "StatusCode.INTERNAL",
            )
        yield Piece(text="Paris.", token_count=2)

    def _attempt(self, request, stream, deadline):
        return self._pieces(request)


@pytest.mark.parametrize("stream", [False, True])
def test_the_gateway_resends_after_a_lora_cache_miss_and_the_user_never_sees_it(lora_dir, stream):
    app, _ = start(lora_dir)
    wire = CacheMissWire()
    app.state.gateway.client = wire
    body = {"model": "test-lora-a", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    with TestClient(app) as http:
        response = http.post("/v1/chat/completions", json=body)
    assert (
        response.status_code == 200
        and "Paris." in response.text
        and "not found in cache" not in response.text
    )
    first, second = wire.sent
    assert second == first.with_weights() and second.inputs(stream=stream)["lora_send_weights"] is True
