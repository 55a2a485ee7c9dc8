"""One sampling meaning, and guides that cannot fail a batch, on the emulated GPU repository.

The emulated `engine` reads its inputs as TensorRT-LLM's executor does (contract/trtllm_backend/
executor.py): absent sampling inputs are greedy with seed 0, and a guide that does not compile, or an
embedding_bias that is not vocab_size long, fails every active request. So these tests prove that the
ensemble's preprocessing sends explicit sampling values and stops bad guides before the engine.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from test_emulated_serving import PROMPT_IDS, EngineStream
from tritonclient.utils import np_to_triton_dtype

from client import LLMClient
from python_backend.contract.trtllm_backend.executor import FORWARD_ASYNC_ERROR

# image_libs: also run under the NGC image's library versions (make test-image).
pytestmark = [pytest.mark.integration, pytest.mark.image_libs]
FORWARD_ASYNC = FORWARD_ASYNC_ERROR.format(error="")


class TypedEngineStream(EngineStream):
    """EngineStream that sends each input with its own dtype (FP32 sampling values, BYTES guides)."""

    def send(self, request_id: str, prompts: list[list[int]], max_tokens: int, **inputs) -> None:
        tensors = {
            "input_ids": np.array(prompts, np.int32),
            "input_lengths": np.array([[len(p)] for p in prompts], np.int32),
            "request_output_len": np.array([[max_tokens]] * len(prompts), np.int32),
            "return_perf_metrics": np.array([[True]] * len(prompts)),
            **inputs,
        }
        infer_inputs = []
        for name, value in tensors.items():
            tensor = grpcclient.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
            tensor.set_data_from_numpy(value)
            infer_inputs.append(tensor)
        with self.lock:
            self.responses.setdefault(request_id, queue.Queue())
        self.client.async_stream_infer(
            "engine", infer_inputs, request_id=request_id, enable_empty_final_response=True
        )

    def tokens(self, request_id: str, max_tokens: int = 24, **inputs) -> list[int]:
        self.send(request_id, [PROMPT_IDS], max_tokens, **inputs)
        ((row, _, _),) = self.collect(request_id)
        return row


@pytest.fixture
def engine(emulated_gpu_server):
    stream = TypedEngineStream(emulated_gpu_server)
    yield stream
    stream.close()


def fp32(value: float) -> np.ndarray:
    return np.array([[value]], np.float32)


def bytes_input(text: str) -> np.ndarray:
    return np.array([[text.encode()]], np.object_)


# -- the engine model as TensorRT-LLM reads its inputs -----------------------------------------------------
def test_the_engine_is_greedy_with_temperature_alone_as_tensorrt_llm_is(engine):
    # DefaultDecodingParams: top_k 0 and top_p 0 → k = 1, whatever the temperature.
    greedy = engine.tokens("g0")
    assert engine.tokens("g1", temperature=fp32(1.5)) == greedy
    assert engine.tokens("g2", temperature=fp32(1.5), runtime_top_k=np.array([[1]], np.int32)) == greedy


def test_unseeded_sampling_repeats_on_the_engine_as_with_seed_0(engine):
    sampled = [engine.tokens(f"s{i}", temperature=fp32(1.5), runtime_top_p=fp32(1.0)) for i in range(2)]
    assert sampled[0] == sampled[1]  # no seed input: seed 0 (getSeed())
    seeded = engine.tokens(
        "s0seed", temperature=fp32(1.5), runtime_top_p=fp32(1.0), seed=np.array([[0]], np.uint64)
    )
    assert seeded == sampled[0] and sampled[0] != engine.tokens("greedy")


def test_a_guide_that_does_not_compile_fails_every_active_engine_request(emulated_gpu_server, engine):
    # forwardAsync's catch terminates all active requests: the emulator is as strict as the runtime.
    for key in ("run0", "run1"):
        engine.send(key, [PROMPT_IDS], 400, streaming=np.array([[True]]))
        assert engine.responses[key].get(timeout=60)[1] is None  # running: its first token came back
    engine.send(
        "bad",
        [PROMPT_IDS],
        8,
        guided_decoding_guide_type=bytes_input("regex"),
        guided_decoding_guide=bytes_input("[a-"),
    )
    for key in ("run0", "run1", "bad"):
        errors = [str(error) for _, error in _drain(engine, key)]
        assert any(FORWARD_ASYNC in e for e in errors), (key, errors)


def _drain(engine, key, timeout_s=60):
    out = []
    while True:
        result, error = engine.responses[key].get(timeout=timeout_s)
        out.append((result, error))
        if error is not None:
            return out
        if result.get_response().parameters["triton_final_response"].bool_param:
            return out


# -- the ensemble -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(emulated_gpu_server):
    return LLMClient(emulated_gpu_server.options.grpc_url, timeout_s=120)


def test_sampled_answers_through_the_ensemble_differ_and_a_seed_repeats(client):
    prompt = "Write a short poem about the sea."
    five = client.generate(prompt, max_tokens=32, temperature=1.0, num_return_sequences=5, chat=True)
    assert len({answer.text for answer in five.sequences}) >= 4
    unseeded = [client.generate(prompt, max_tokens=32, temperature=1.0, chat=True).text for _ in range(2)]
    assert unseeded[0] != unseeded[1]  # preprocessing draws a seed: the engine's default 0 would repeat
    seeded = [
        client.generate(prompt, max_tokens=32, temperature=1.0, seed=11, chat=True).text for _ in range(2)
    ]
    assert seeded[0] == seeded[1]
    greedy = [
        client.generate(prompt, max_tokens=16, chat=True).text,
        client.generate(prompt, max_tokens=16, chat=True).text,
    ]
    assert greedy[0] == greedy[1]


def test_a_malformed_regex_beside_running_streams_gets_a_400_and_the_streams_finish(
    emulated_gpu_server, client
):
    results: dict[int, object] = {}
    started = threading.Barrier(9)

    def run(index: int) -> None:
        chunks = client.stream(f"Count from {index} to {index + 40}.", max_tokens=48, chat=True)
        text = []
        for position, chunk in enumerate(chunks):
            if position == 0:
                started.wait(timeout=120)
            text.append(chunk)
        results[index] = "".join(text)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    started.wait(timeout=120)  # all 8 are generating
    body = {
        "text_input": "Say yes.",
        "max_tokens": 8,
        "guided_decoding_guide_type": "regex",
        "guided_decoding_guide": "[a-",
    }
    request = urllib.request.Request(
        f"{emulated_gpu_server.options.http_url}/v2/models/ensemble/generate", data=json.dumps(body).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 400 and "guided_decoding_guide" in refused.value.read().decode()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == list(range(8)) and all(text.strip() for text in results.values())
