"""LoRA adapters through the OpenAI gateway and the client library, against this directory's
tritonserver (conftest.py: the CPU repository with LoRA on, max_lora_rank 8) with a gateway of its
own over the same adapter directory (issue 27): an adapter registered with vLLM's
/v1/load_lora_adapter while both run is listed with its parent and answers `"model": "<adapter>"`
with the tokens the client library gets by lora_name over gRPC; the server's max_lora_rank, read
from Triton's model configs, refuses a wider adapter by name; unknown adapters are a 404 / a typed
error naming them; unload makes the name unknown again. (Greedy tokens against PyTorch + PEFT are
test_lora_serving.py's; the adapters its tests wrote are still in the directory when this runs.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from gateway_process import start_gateway, stop_gateway
from lora_server import MAX_LORA_RANK
from suite_ports import test_port

from python_backend.contract.adapter_dir import CONFIG_FILE, WEIGHTS_FILE, AdapterDirectory

pytestmark = pytest.mark.integration

GATEWAY_PORT = test_port(11040)
NARROW_RANK = 4
WIDE_RANK = MAX_LORA_RANK * 2  # does not fit the server's max_lora_rank
MODULES = ("q_proj", "v_proj", "up_proj", "down_proj")


def write_adapter(
    folder: Path, spec, checkpoint_dir: Path, *, rank: int, modules: tuple[str, ...], seed: int
):
    """A PEFT LoRA adapter's two files, written with numpy in PEFT's layout (keys, shapes, config):
    quicker than training one with torch, and the gateway and the engine read nothing else. spec: the
    LoRA export's LoraSpec (its layers and each module's in/out features)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(spec.num_layers):
        for module in modules:
            features_in, features_out = spec.modules[module]
            block = "self_attn" if module.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
            key = f"base_model.model.model.layers.{layer}.{block}.{module}"
            tensors[f"{key}.lora_A.weight"] = rng.uniform(-0.05, 0.05, (rank, features_in)).astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = rng.normal(0, 0.1, (features_out, rank)).astype(np.float32)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / WEIGHTS_FILE))
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": str(checkpoint_dir),
        "r": rank,
        "lora_alpha": 2 * rank,
        "target_modules": list(modules),
        "lora_dropout": 0.0,
        "bias": "none",
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config))


@pytest.fixture(scope="module")
def stack(lora_server, checkpoint_dir, onnx_fp32):
    """(tritonserver, gateway URL, adapter directory): this directory's server, its LORA_DIR, a gateway
    reading the same directory; two adapters wait in the directory's hidden .staging."""
    from build_engines.lora.export import export_lora
    from python_backend.engine.lora_weights import LoraSpec

    lora_dir = lora_server.lora_dir
    shutil.rmtree(lora_dir / ".staging", ignore_errors=True)
    spec = LoraSpec.read(export_lora(checkpoint_dir, onnx_fp32))  # the server's, already derived
    for name, rank, seed in (("wide", WIDE_RANK, 1), ("narrow", NARROW_RANK, 2)):
        write_adapter(
            lora_dir / ".staging" / name, spec, checkpoint_dir, rank=rank, modules=MODULES, seed=seed
        )
    tokenizer_dir = Path(lora_server.options.model_repository) / "preprocessing" / "1" / "tokenizer"
    gateway = start_gateway(
        GATEWAY_PORT,
        lora_server.options.grpc_url,
        tokenizer_dir,
        "--lora-dir",
        str(lora_dir),
        "--allow-runtime-lora",
    )
    try:
        yield lora_server, f"http://127.0.0.1:{GATEWAY_PORT}", lora_dir
    finally:
        stop_gateway(gateway)


def test_an_adapter_loaded_while_serving_answers_by_model_name(stack):
    import httpx
    import openai

    from client import AdapterNotFoundError, GenerateRequest, LLMClient

    server, url, lora_dir = stack
    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    base = sdk.models.list().data[0].id

    too_wide = {"lora_name": "wide", "lora_path": str(lora_dir / ".staging" / "wide")}
    refused = httpx.post(f"{url}/v1/load_lora_adapter", json=too_wide, timeout=120)
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert f"rank {WIDE_RANK} > the server's max_lora_rank {MAX_LORA_RANK}" in message

    body = {"lora_name": "my-adapter", "lora_path": str(lora_dir / ".staging" / "narrow")}
    loaded = httpx.post(f"{url}/v1/load_lora_adapter", json=body, timeout=120)
    assert loaded.status_code == 200, loaded.text
    listed = [(m.id, m.parent) for m in sdk.models.list()]
    assert ("my-adapter", base) in listed
    # The base model, then every adapter of the directory the server reads (the other tests of this
    # directory write theirs there too), each with its parent.
    assert listed == [(base, None)] + [(name, base) for name in AdapterDirectory(lora_dir).names()]

    messages = [{"role": "user", "content": "Name a colour."}]

    def gateway_answer(model):
        answer = sdk.chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0)
        return answer.choices[0].message.content

    llm = LLMClient(server.options.grpc_url)
    direct = llm.generate(GenerateRequest.chat_messages(messages, max_tokens=12, lora_name="my-adapter"))
    # The same adapter by name on both edges: the same greedy tokens.
    assert gateway_answer("my-adapter") == direct.text
    # And it is the adapter that answered: the base model says something else.
    assert gateway_answer(base) != direct.text

    with pytest.raises(openai.NotFoundError) as caught:
        gateway_answer("no-such-adapter")
    assert (
        caught.value.body["code"] == "model_not_found" and "no-such-adapter" in caught.value.body["message"]
    )
    with pytest.raises(AdapterNotFoundError) as unknown:
        llm.generate("hi", max_tokens=2, lora_name="no-such-adapter")
    assert unknown.value.adapter == "no-such-adapter"

    unloaded = httpx.post(f"{url}/v1/unload_lora_adapter", json={"lora_name": "my-adapter"}, timeout=30)
    assert unloaded.status_code == 200
    assert (lora_dir / ".staging" / "narrow" / WEIGHTS_FILE).is_file()  # files kept
    with pytest.raises(openai.NotFoundError):
        gateway_answer("my-adapter")
    with pytest.raises(AdapterNotFoundError):
        llm.generate("hi", max_tokens=2, lora_name="my-adapter")
