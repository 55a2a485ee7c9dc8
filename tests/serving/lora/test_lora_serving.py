"""LoRA by name through Triton on the CPU path, end to end (issue 27): adapters written into the
server's LORA_DIR while it runs answer over gRPC with PyTorch + PEFT merged's greedy tokens, beside
base-model requests in the same batch; an unknown adapter is NOT_FOUND naming it (HTTP 404); an
adapter wider than max_lora_rank is refused by name; removal and eviction under load lose nothing;
the metrics port shows the adapters."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from lora_server import MAX_LORA_RANK, MAX_LORAS, grpc_generate, metrics_text, publish

pytestmark = pytest.mark.integration

A, B = "test-lora-a", "test-lora-b"
MAX_TOKENS = 10
PROMPTS = ("The quick brown fox", "Once upon a time, in a small village,", "The capital of France is")
# (prompt, adapter) rows sent together: two adapters and the base model in the same engine steps
MIXED = ((0, A), (1, B), (2, None), (0, None), (1, A))
# the answers the tests compare: MIXED's, and (1, None) to show that B changes prompt 1's
REFERENCE_ROWS = (*MIXED, (1, None))


@pytest.fixture(scope="module")
def reference(checkpoint_dir, base_model, made_adapters, tokenizer):
    """PyTorch's greedy answer per (prompt, adapter): the base model, or PEFT merged (merge_and_unload)."""
    from peft import PeftModel

    from build_engines.lora.adapters import load_base
    from python_backend.text.tokenizer import generation_end_ids

    end_ids = set(generation_end_ids(checkpoint_dir, tokenizer))
    models = {None: base_model}
    for name in (A, B):
        models[name] = PeftModel.from_pretrained(load_base(checkpoint_dir), str(made_adapters[name]))
        models[name] = models[name].merge_and_unload()
    return {
        (i, name): _greedy_text(models[name], tokenizer, PROMPTS[i], end_ids) for i, name in REFERENCE_ROWS
    }


def _greedy_text(model, tokenizer, prompt: str, end_ids: set[int]) -> str:
    import torch

    ids = tokenizer.encode(prompt)
    tokens = []
    torch.set_num_threads(1)  # one token at a time on a shared 2-core machine: threads only contend
    with torch.no_grad():
        step = model(torch.tensor([ids]), use_cache=True)
        for _ in range(MAX_TOKENS):
            token = int(step.logits[0, -1].argmax())
            if token in end_ids:
                break
            tokens.append(token)
            step = model(torch.tensor([[token]]), past_key_values=step.past_key_values, use_cache=True)
    return tokenizer.decode(tokens, skip_special_tokens=True)


@pytest.fixture(scope="module")
def adapters_in_lora_dir(made_adapters, lora_server):
    """A and B written into LORA_DIR after the server started."""
    for name in (A, B):
        publish(made_adapters[name], lora_server.lora_dir, name)
    return lora_server


def _mixed_batch(url, rows):
    with ThreadPoolExecutor(len(rows)) as pool:
        futures = [pool.submit(grpc_generate, url, PROMPTS[i], MAX_TOKENS, name) for i, name in rows]
        return [f.result() for f in futures]


def test_adapters_written_while_serving_answer_as_merged_peft(reference, adapters_in_lora_dir):
    answers = _mixed_batch(adapters_in_lora_dir.options.grpc_url, MIXED)
    for (i, name), answer in zip(MIXED, answers, strict=True):
        assert isinstance(answer, tuple), f"{name}: {answer}"
        assert answer[0] == reference[i, name], (i, name)
    # the adapters change the answers (else equality would prove nothing)
    assert reference[0, A] != reference[0, None] and reference[1, B] != reference[1, None]


def test_the_client_library_sends_the_adapter(adapters_in_lora_dir, reference):
    from client import GenerateRequest, LLMClient

    client = LLMClient(adapters_in_lora_dir.options.grpc_url, "grpc", timeout_s=120)
    result = client.generate(GenerateRequest(PROMPTS[1], max_tokens=MAX_TOKENS, lora_name=B))
    assert result.text == reference[1, B]


def _post(url: str, payload: dict) -> tuple[int, str]:
    request = urllib.request.Request(url, json.dumps(payload).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_tensorrtllm_clients_send_the_adapter_as_a_task(adapters_in_lora_dir, made_adapters, reference):
    """tensorrtllm_backend's inputs on the CPU engine: weights the first time, the id alone after; an
    id it does not hold, sent alone, gets the C++ backend's cache-miss message (its clients resend)."""
    import numpy as np

    from python_backend.triton_io.trtllm_lora import peft_to_trtllm

    url, lora = adapters_in_lora_dir.options.grpc_url, peft_to_trtllm(made_adapters[A])
    task = {"lora_task_id": np.array([[4242]], dtype=np.uint64)}
    first = {**task, "lora_weights": lora.weights[None], "lora_config": lora.config[None]}
    assert grpc_generate(url, PROMPTS[0], MAX_TOKENS, extra=first)[0] == reference[0, A]
    assert grpc_generate(url, PROMPTS[0], MAX_TOKENS, extra=task)[0] == reference[0, A]
    missing = grpc_generate(url, PROMPTS[0], 4, extra={"lora_task_id": np.array([[77]], dtype=np.uint64)})
    assert "LoRA task 77 not found in cache. Please send LoRA weights with request" in missing.message()


def test_unknown_adapter_is_not_found_by_name(lora_server):
    """Preprocessing answers NOT_FOUND naming the adapter: HTTP 404 from the model itself. Through the
    ensemble Triton 2.51 keeps the message, not the code: a gRPC stream's error carries a message only,
    and the generate endpoint answers any error in a response with 400; so clients (client/errors.py)
    and the gateway recognise it by the message, which names the field and the adapter."""
    expected = "lora_name: adapter 'no-such-adapter' is not in the adapter directory"
    error = grpc_generate(lora_server.options.grpc_url, PROMPTS[0], 4, "no-such-adapter")
    assert expected in error.message()
    http = lora_server.options.http_url
    status, body = _post(
        f"{http}/v2/models/ensemble/generate",
        {"text_input": PROMPTS[0], "max_tokens": 4, "lora_name": "no-such-adapter"},
    )
    assert status == 400 and expected in body
    inputs = [
        {"name": "text_input", "shape": [1, 1], "datatype": "BYTES", "data": [PROMPTS[0]]},
        {"name": "max_tokens", "shape": [1, 1], "datatype": "INT32", "data": [4]},
        {"name": "lora_name", "shape": [1, 1], "datatype": "BYTES", "data": ["no-such-adapter"]},
    ]
    status, body = _post(f"{http}/v2/models/preprocessing/infer", {"inputs": inputs})
    assert status == 404 and expected in body


def test_lora_inputs_are_refused_by_name_where_lora_is_off(server):
    """The session's repository has no adapter directory (LoRA off)."""
    error = grpc_generate(server.options.grpc_url, PROMPTS[0], 4, A)
    assert "lora_name: LoRA is off in this repository" in error.message()


def test_adapter_wider_than_max_lora_rank_is_refused_by_name(lora_server, made_adapters):
    path = publish(made_adapters[A], lora_server.lora_dir, "too-wide")
    config = json.loads((path / "adapter_config.json").read_text())
    config["r"] = MAX_LORA_RANK * 2
    (path / "adapter_config.json").write_text(json.dumps(config))
    error = grpc_generate(lora_server.options.grpc_url, PROMPTS[0], 4, "too-wide")
    assert "lora_name: adapter 'too-wide': rank 16 > this engine's max_lora_rank 8" in error.message()


def _running(lora_server, name: str) -> bool:
    return any(name in labels["running_lora_adapters"].split(",") for labels, _ in _info(lora_server))


def _info(lora_server) -> list[tuple[dict, float]]:
    """Every triton_llm_lora_requests_info series: (labels, value)."""
    text = metrics_text(lora_server)
    out = []
    for labels, value in re.findall(r"^triton_llm_lora_requests_info\{(.*)\} (\S+)$", text, re.M):
        out.append((dict(re.findall(r'(\w+)="([^"]*)"', labels)), float(value)))
    return out


def test_removal_under_load_loses_no_request(lora_server, made_adapters):
    """Requests running with an adapter finish when it is removed from LORA_DIR; new ones are NOT_FOUND."""
    url, tokens = lora_server.options.grpc_url, 48
    path = publish(made_adapters[B], lora_server.lora_dir, "drain-me")
    with ThreadPoolExecutor(3) as pool:
        running = [pool.submit(grpc_generate, url, PROMPTS[i], tokens, "drain-me", tokens) for i in range(3)]
        deadline = time.monotonic() + 60
        while not _running(lora_server, "drain-me"):
            assert time.monotonic() < deadline, "the requests never ran"
            time.sleep(0.05)
        shutil.rmtree(path)
        refused = grpc_generate(url, PROMPTS[0], 4, "drain-me")
        answers = [f.result() for f in running]
    assert "lora_name: adapter 'drain-me' is not in the adapter directory" in refused.message()
    assert [count for _, count in answers] == [tokens] * 3


def test_eviction_under_load_loses_nothing(adapters_in_lora_dir, made_adapters, reference):
    """More adapters than max_loras at once: every request answers, each with its own adapter."""
    publish(made_adapters[A], adapters_in_lora_dir.lora_dir, "test-lora-c")  # A's weights, a third name
    rows = [(0, A), (1, B), (0, "test-lora-c"), (2, None)] * 2
    assert len({name for _, name in rows if name}) > MAX_LORAS
    answers = _mixed_batch(adapters_in_lora_dir.options.grpc_url, rows)
    for (i, name), answer in zip(rows, answers, strict=True):
        assert isinstance(answer, tuple), f"{name}: {answer}"
        assert answer[0] == reference[i, A if name == "test-lora-c" else name], (i, name)


def test_an_adapter_rewritten_in_lora_dir_is_loaded_again(adapters_in_lora_dir, made_adapters, reference):
    url = adapters_in_lora_dir.options.grpc_url
    publish(made_adapters[A], adapters_in_lora_dir.lora_dir, "rewritten")
    assert grpc_generate(url, PROMPTS[1], MAX_TOKENS, "rewritten")[0] == reference[1, A]
    publish(made_adapters[B], adapters_in_lora_dir.lora_dir, "rewritten")  # new files: a new version
    assert grpc_generate(url, PROMPTS[1], MAX_TOKENS, "rewritten")[0] == reference[1, B]


def test_metrics_show_the_adapters(adapters_in_lora_dir):
    grpc_generate(adapters_in_lora_dir.options.grpc_url, PROMPTS[0], 4, A)
    time.sleep(0.5)  # the engine copies its counts into the families at most every 0.25 s
    text = metrics_text(adapters_in_lora_dir)
    requests = re.search(r'^triton_llm_lora_requests_total\{adapter="test-lora-a"\} (\S+)$', text, re.M)
    tokens = re.search(
        r'^triton_llm_lora_generation_tokens_total\{adapter="test-lora-a"\} (\S+)$', text, re.M
    )
    assert requests and float(requests.group(1)) >= 1
    assert tokens and float(tokens.group(1)) >= 4
    info = _info(adapters_in_lora_dir)
    assert info and all(labels["max_lora"] == str(MAX_LORAS) for labels, _ in info)
    # vLLM's value: the unix time of the last update; the newest series is the idle engine's
    newest = max(info, key=lambda series: series[1])
    assert abs(newest[1] - time.time()) < 60 and newest[0]["running_lora_adapters"] == ""
