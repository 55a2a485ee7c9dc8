"""LoRA on the emulated C++ path, on a real tritonserver: a stand-in engine built with the LoRA plugin
(rank 8, every module), a host PEFT cache that holds one of the two test adapters at a time
(emulated_gpu_servers.TEST_LORA_HOST_BYTES), adapters by name from a LORA_DIR.

Every answer is held to the CPU engine's greedy tokens with the same PEFT adapter (the reference runs
in this process over the same LoRA export): by name through the ensemble (preprocessing turns the
name into lora_task_id and, the first time, TensorRT-LLM's lora_weights / lora_config), and as
tensorrtllm_backend's clients send them (task id + weights, then the id alone). After an eviction
the backend answers an id alone with its cache-miss error; the client library resends with
lora_send_weights and the caller never sees it.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from grpc_stream import stream_responses
from suite_ports import SCRATCH

from client import LLMClient
from python_backend.contract.adapter_dir import AdapterDirectory
from python_backend.contract.trtllm_backend import lora as bl
from python_backend.triton_io.trtllm_lora import peft_to_trtllm, task_id

pytestmark = [pytest.mark.integration, pytest.mark.image_libs]

A, B = "test-lora-a", "test-lora-b"  # rank 8 over all 7 modules; rank 4 over q/v/up/down
PROMPT = "The quick brown fox"  # the base model and both adapters answer it differently
MAX_TOKENS = 10


@pytest.fixture(scope="module")
def served(checkpoint_dir, onnx_fp32, tokenizer):
    """(server, adapter directory, reference): the session's test adapters (tests/made_adapters.py: made
    with the project's environment, PEFT being none of the image's libraries, or read) are copied into
    a LORA_DIR of its own, and the CPU engine answers with them, while the server starts."""
    from emulated_gpu_servers import start_emulated_lora_server
    from made_adapters import made_adapters

    from build_engines.lora.export import export_lora

    lora_export = export_lora(checkpoint_dir, onnx_fp32)  # derived once here, before two threads need it
    lora_dir = (SCRATCH / "emulated_lora_adapters").resolve()
    shutil.rmtree(lora_dir, ignore_errors=True)
    lora_dir.mkdir(parents=True)

    def adapters_and_reference() -> dict:
        for name, path in made_adapters(checkpoint_dir).items():
            shutil.copytree(path, lora_dir / name)
        return cpu_engine_answers(lora_export, tokenizer, lora_dir)

    # The server in this thread: it is stopped when the thread that started it ends (parent-death
    # signal). It reads adapters per request, so they need only be there before the first one.
    with ThreadPoolExecutor(1) as pool:
        answering = pool.submit(adapters_and_reference)
        server = start_emulated_lora_server(checkpoint_dir, onnx_fp32, lora_dir)
        try:
            reference = answering.result()
        except BaseException:
            server.stop()
            raise
    try:
        yield server, lora_dir, reference
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lora_server(served):
    return served[0]


@pytest.fixture(scope="module")
def lora_dir(served) -> Path:
    return served[1]


@pytest.fixture(scope="module")
def reference(served) -> dict:
    return served[2]


def cpu_engine_answers(lora_export: Path, tokenizer, lora_dir: Path) -> dict:
    """The CPU engine's greedy text per adapter (None: the base model), PEFT directories loaded by name."""
    from python_backend.engine.config import EngineConfig
    from python_backend.engine.llm_engine import LLMEngine
    from python_backend.engine.sequence import SamplingParams

    engine = LLMEngine(
        EngineConfig(max_num_seqs=2, max_seq_len=128, max_loras=2, max_lora_rank=8), lora_export
    )
    engine.start()
    try:
        out = {}
        for name in (None, A, B):
            if name is not None:
                engine.load_adapter(name, lora_dir / name)
            params = SamplingParams(max_tokens=MAX_TOKENS, end_ids=(tokenizer.eos_token_id,), lora_name=name)
            tokens, _ = engine.generate(tokenizer.encode(PROMPT), params)
            out[name] = tokenizer.decode(tokens, skip_special_tokens=True)
    finally:
        engine.shutdown()
    assert len(set(out.values())) == 3, out  # each adapter changes the answer: the checks below can fail
    return out


def _text(server, **inputs) -> str:
    values = {"text_input": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0.0, **inputs}
    responses = stream_responses(server.options.grpc_url, values)
    pieces = [r.as_numpy("text_output") for r in responses]
    return "".join(x.decode() for piece in pieces if piece is not None for x in piece.reshape(-1))


def _error(server, **inputs) -> str:
    with pytest.raises(AssertionError) as failure:
        _text(server, **inputs)
    return str(failure.value)


def _trtllm(name: str, lora_dir: Path) -> dict:
    """What a tensorrtllm_backend client sends: the converter's matrices with their batch dimension."""
    lora = peft_to_trtllm(lora_dir / name)
    return {"lora_weights": lora.weights, "lora_config": lora.config}


def test_adapters_by_name_answer_as_the_cpu_engine_and_evictions_stay_hidden(lora_server, reference):
    attempts = []
    with LLMClient(lora_server.options.grpc_url, model="ensemble") as client:
        # A and B never fit the host cache together: each switch evicts the other, whose next
        # request is sent by id alone (preprocessing sent its weights already), misses, and is
        # resent with lora_send_weights by the client library.
        for name in (A, B, A, B, None, A):
            result = client.generate(PROMPT, max_tokens=MAX_TOKENS, temperature=0.0, lora_name=name)
            assert result.text == reference[name], name
            attempts.append(result.attempts)
    # One preprocessing instance: the first use of each sends its weights; after that every switch
    # between them is a miss resent once; the base model needs no adapter.
    assert attempts == [1, 1, 2, 2, 1, 2]


def test_tensorrtllm_clients_send_a_task_id_with_weights_then_the_id_alone(lora_server, lora_dir, reference):
    first = 990001  # an id of this test's own, not one preprocessing derives from a name
    assert _text(lora_server, lora_task_id=int(first), **_trtllm(B, lora_dir)) == reference[B]
    assert _text(lora_server, lora_task_id=int(first)) == reference[B]
    # Weights sent again for a cached id are ignored (LoraCache::put): still B's answer.
    assert _text(lora_server, lora_task_id=int(first), **_trtllm(A, lora_dir)) == reference[B]
    # A evicts B (done, least recently): B's id alone is then the backend's cache miss, final and
    # before any token, and the weights sent again answer.
    assert _text(lora_server, lora_task_id=int(first + 1), **_trtllm(A, lora_dir)) == reference[A]
    miss = _error(lora_server, lora_task_id=int(first))
    assert bl.CACHE_MISS.format(task_id=first) in miss
    assert "Executor failed process requestId" in miss
    assert _text(lora_server, lora_task_id=int(first), **_trtllm(B, lora_dir)) == reference[B]


def test_the_miss_and_the_resend_by_hand(lora_server, lora_dir, reference):
    """What the client library does, with tritonclient alone: lora_name's own task id, evicted, misses;
    lora_send_weights attaches the weights again."""
    version = AdapterDirectory(lora_dir).version(A)
    assert _text(lora_server, lora_name=A, lora_send_weights=True) == reference[A]
    assert _text(lora_server, lora_task_id=990101, **_trtllm(B, lora_dir)) == reference[B]
    miss = _error(lora_server, lora_task_id=task_id(A, version))
    assert bl.CACHE_MISS.format(task_id=task_id(A, version)) in miss
    assert _text(lora_server, lora_name=A, lora_send_weights=True) == reference[A]


def test_what_the_backend_refuses_is_refused_with_its_words(lora_server, lora_dir):
    weights = _trtllm(A, lora_dir)
    config = weights["lora_config"].copy()
    config[0, 2] = 16  # above the engine's max_lora_rank 8
    refused = _error(lora_server, lora_task_id=990201, **{**weights, "lora_config": config})
    assert bl.RANK_ABOVE_MAX.format(rank=16, max_rank=8) in refused
    half = _error(lora_server, lora_task_id=990202, lora_weights=weights["lora_weights"])
    assert bl.WEIGHTS_WITHOUT_CONFIG in half
