"""The real tritonserver with the assembled CPU repository, over real sockets."""

import concurrent.futures
import json
import urllib.error
import urllib.request

import pytest

from client import GenerateRequest, LLMClient, ServerError
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.sequence import SamplingParams

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def grpc(server):
    return LLMClient(server.options.grpc_url, "grpc", timeout_s=120)


@pytest.fixture(scope="module")
def http(server):
    return LLMClient(server.options.http_url, "http", timeout_s=120)


def test_chat_answer_streams_over_grpc(grpc):
    chunks = list(grpc.stream("What is the capital of France?", max_tokens=32, chat=True))
    assert len(chunks) > 3 and "Paris" in "".join(chunks)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_protocol_and_mode_gives_the_same_greedy_text(server, protocol, stream):
    client = LLMClient(server.options.grpc_url if protocol == "grpc" else server.options.http_url, protocol)
    result = client.generate("Write one sentence about the sea.", stream=stream, max_tokens=24, chat=True)
    reference = LLMClient(server.options.grpc_url).generate(
        "Write one sentence about the sea.", max_tokens=24, chat=True
    )
    assert result.text == reference.text and result.text.strip()
    assert result.output_tokens == reference.output_tokens > 0


@pytest.mark.parametrize(
    "prompt",
    [
        "Translate to Japanese: Good morning, how are you?",
        "Reply with three emoji that describe a birthday party.",
        "Écris une phrase en français avec des accents: é, è, à, ç.",
        "Write a line of Chinese poetry about the moon.",
    ],
)
def test_streamed_text_equals_non_streamed_byte_for_byte(grpc, prompt):
    streamed = grpc.generate(prompt, stream=True, max_tokens=40, chat=True)
    whole = grpc.generate(prompt, stream=False, max_tokens=40, chat=True)
    assert streamed.text.encode("utf-8") == whole.text.encode("utf-8")
    assert "\ufffd" not in streamed.text


def test_greedy_output_through_triton_equals_the_engine_called_directly(grpc, test_repository, tokenizer):
    prompt = "Name the largest planet in the solar system."
    served = grpc.generate(prompt, max_tokens=32, chat=True)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
    )
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    engine = LLMEngine(
        EngineConfig(max_num_seqs=1, max_seq_len=512), test_repository / "engine" / "1" / "onnx"
    )
    try:
        tokens, _ = engine.start().generate(ids, SamplingParams(max_tokens=32, end_ids=(2,)))
    finally:
        engine.shutdown()
    assert served.text == tokenizer.decode(tokens, skip_special_tokens=True)


def test_eight_concurrent_streams_of_different_lengths(server):
    prompts = [(f"Count slowly from 1 to {n}.", 8 + 6 * n) for n in range(1, 9)]

    def one(prompt_and_len):
        prompt, max_tokens = prompt_and_len
        return LLMClient(server.options.grpc_url).generate(
            prompt, stream=True, max_tokens=max_tokens, chat=True
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, prompts))
    for (prompt, max_tokens), result in zip(prompts, results, strict=True):
        alone = LLMClient(server.options.grpc_url).generate(prompt, max_tokens=max_tokens, chat=True)
        assert result.text == alone.text and 0 < result.output_tokens <= max_tokens


def test_client_error_types(grpc):
    with pytest.raises(ServerError, match="must not be empty"):
        grpc.generate(GenerateRequest("", max_tokens=4))


def test_engine_metrics_are_exported(server, grpc):
    grpc.generate("Hello", max_tokens=4)
    with urllib.request.urlopen(f"http://127.0.0.1:{server.options.metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    for family in (
        "triton_llm_time_to_first_token_seconds",
        "triton_llm_kv_cache_utilization_ratio",
        "triton_llm_generation_tokens_total",
        "triton_llm_tokenize_duration_seconds",
        "nv_inference_request_success",
    ):
        assert family in text


def test_each_request_leaves_one_structured_log_line(server, grpc):
    grpc.generate("Say OK.", max_tokens=4, chat=True)
    log_path = server.log_path
    lines = [
        json.loads(line)
        for line in log_path.read_text().splitlines()
        if line.startswith("{") and '"event": "request_finished"' in line
    ]
    assert lines, f"no request_finished line in {log_path}"
    last = lines[-1]
    assert last["request_id"] and last["reason"] in ("stop", "length") and last["e2e_s"] >= last["ttft_s"] > 0


def test_the_engine_stop_input_stops_a_running_request(server):
    """TensorRT-LLM's contract: a request with stop=true stops the one it names by request id
    (for the CPU engine: the arrival_time_ns the stream's responses carry)."""
    import queue

    import numpy as np
    import tritonclient.grpc as grpcclient

    def tensor(name, array):
        t = grpcclient.InferInput(name, list(array.shape), grpcclient.np_to_triton_dtype(array.dtype))
        t.set_data_from_numpy(array)
        return t

    def request(stop=False):
        return [
            tensor("input_ids", np.array([[1, 2, 3, 4]], np.int32)),
            tensor("input_lengths", np.array([[4]], np.int32)),
            tensor("request_output_len", np.array([[400]], np.int32)),
            tensor("min_tokens", np.array([[400]], np.int32)),
            tensor("streaming", np.array([[True]])),
            *([tensor("stop", np.array([[True]]))] if stop else []),
        ]

    responses = queue.Queue()
    generating = grpcclient.InferenceServerClient(server.options.grpc_url)
    generating.start_stream(callback=lambda result, error: responses.put((result, error)))
    generating.async_stream_infer("engine", request(), enable_empty_final_response=True)
    result, error = responses.get(timeout=60)
    assert error is None
    key = int(result.as_numpy("arrival_time_ns").reshape(-1)[0])

    stopper = grpcclient.InferenceServerClient(server.options.grpc_url)
    stopped = queue.Queue()
    stopper.start_stream(callback=lambda result, error: stopped.put((result, error)))
    stopper.async_stream_infer("engine", request(stop=True), request_id=str(key))
    result, error = stopped.get(timeout=30)
    assert error is None and result.as_numpy("sequence_length").reshape(-1)[0] == 0
    tokens = 1
    while True:  # the stream ends (its final response) long before its 400 tokens
        result, error = responses.get(timeout=30)
        assert error is None
        # The final response carries what the writer still held ("auto" framing) or nothing.
        length = result.as_numpy("sequence_length")
        tokens += 0 if length is None else int(length.reshape(-1)[0])
        if result.get_response().parameters["triton_final_response"].bool_param:
            break
    assert tokens < 400
    stopper.stop_stream()
    generating.stop_stream()
