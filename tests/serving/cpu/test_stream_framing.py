"""Streaming framing through the real tritonserver: the session server runs the default,
stream_interval "auto" (the first token alone, then more tokens per response the more streams
share an engine step: python_backend/triton_io/stream_framing.py); a second server runs
stream_interval 1 (one token per response, tensorrtllm_backend's framing). The same greedy request
must carry the same tokens and the same text on both: framing may change how many responses a
client gets, never what they say."""

import queue

import numpy as np
import pytest
from suite_ports import SCRATCH, test_port

from client import wire
from python_backend.triton_io.model_configs import AUTO, EngineModelConfig

pytestmark = pytest.mark.integration

PROMPT = "Write two sentences about the sea."
TOKENS = 40  # min_tokens = max_tokens: both servers generate exactly this many


@pytest.fixture(scope="module")
def per_token_server(checkpoint_dir, onnx_fp32):
    from build_engines.onnx import repository
    from server.tritonserver import ServerOptions, TritonServer

    repo = repository.assemble_cpu(
        SCRATCH / "test_repository_interval1",
        checkpoint_dir,
        onnx_fp32,
        max_seq_len=512,
        max_num_seqs=8,
        max_queue_size=8,
        stream_interval=1,
    )
    options = ServerOptions(repo, test_port(1500), test_port(1501), test_port(1502), exit_timeout_s=10)
    with TritonServer(options, log_path=SCRATCH / "test_tritonserver_interval1.log") as running:
        yield running


def _stream(grpc_url: str, model: str, inputs: list) -> list:
    """Every response of one streamed request, the empty final one included."""
    import tritonclient.grpc as grpcclient

    responses: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(grpc_url)
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    client.async_stream_infer(model, inputs, enable_empty_final_response=True)
    results = []
    try:
        while True:
            result, error = responses.get(timeout=300)
            assert error is None, error
            results.append(result)
            if result.get_response().parameters["triton_final_response"].bool_param:
                return results
    finally:
        client.stop_stream()
        client.close()


def engine_chunks(grpc_url: str, prompt_ids: list[int]) -> list[list[int]]:
    """The token ids of each response of the engine model (TensorRT-LLM's tensorrt_llm I/O)."""
    import tritonclient.grpc as grpcclient

    def tensor(name, array):
        t = grpcclient.InferInput(name, list(array.shape), grpcclient.np_to_triton_dtype(array.dtype))
        t.set_data_from_numpy(array)
        return t

    inputs = [
        tensor("input_ids", np.array([prompt_ids], np.int32)),
        tensor("input_lengths", np.array([[len(prompt_ids)]], np.int32)),
        tensor("request_output_len", np.array([[TOKENS]], np.int32)),
        tensor("min_tokens", np.array([[TOKENS]], np.int32)),
        tensor("streaming", np.array([[True]])),
    ]
    results = _stream(grpc_url, "engine", inputs)
    return [
        r.as_numpy("output_ids").reshape(-1).tolist() for r in results if r.as_numpy("output_ids") is not None
    ]


def ensemble_chunks(grpc_url: str) -> list[tuple[str, int]]:
    """(text, token_count so far) of each ensemble response that carries text."""
    import tritonclient.grpc as grpcclient

    values = {
        "text_input": PROMPT,
        "max_tokens": TOKENS,
        "min_tokens": TOKENS,
        "apply_chat_template": True,
        "stream": True,
    }
    results = _stream(grpc_url, "ensemble", wire.grpc_inputs(grpcclient, values))
    return [
        (
            b"".join(r.as_numpy("text_output").reshape(-1)).decode(),
            int(r.as_numpy("token_count").reshape(-1)[0]),
        )
        for r in results
        if r.as_numpy("text_output") is not None
    ]


def test_the_session_repository_streams_at_the_default_auto(test_repository):
    from build_engines import model_config

    served = model_config.load(test_repository / "engine" / "config.pbtxt").parameters
    engine = EngineModelConfig.from_parameters({key: value.string_value for key, value in served.items()})
    assert engine.stream_interval == AUTO == EngineModelConfig().stream_interval


def test_per_token_and_coalesced_framing_carry_the_same_tokens(cpu_server, per_token_server, tokenizer):
    prompt_ids = tokenizer.encode(PROMPT)
    per_token = engine_chunks(per_token_server.options.grpc_url, prompt_ids)
    coalesced = engine_chunks(cpu_server.options.grpc_url, prompt_ids)
    # stream_interval 1: one token per response, then the empty final one.
    assert [len(chunk) for chunk in per_token] == [1] * TOKENS + [0]
    # auto, one stream: the first token alone; after it no response is empty but the final one, and
    # however they were grouped, the same tokens in the same order.
    assert len(coalesced[0]) == 1
    assert all(coalesced[:-1]) and sum(coalesced, []) == sum(per_token, [])
    assert len(sum(coalesced, [])) == TOKENS


def test_per_token_and_coalesced_framing_carry_the_same_text(cpu_server, per_token_server):
    per_token = ensemble_chunks(per_token_server.options.grpc_url)
    coalesced = ensemble_chunks(cpu_server.options.grpc_url)
    for chunks in (per_token, coalesced):
        counts = [count for _, count in chunks]
        # The first response brings one token; counts never go back; the last is every token.
        assert counts[0] == 1 and counts == sorted(counts) and counts[-1] == TOKENS
    assert [count for _, count in per_token] == list(range(1, TOKENS + 1)) + [TOKENS]
    whole = "".join(text for text, _ in per_token)
    assert whole.strip() and "".join(text for text, _ in coalesced) == whole


def test_auto_framing_coalesces_when_eight_streams_share_the_steps(cpu_server, tokenizer):
    """8 concurrent streams (the session server's max_num_seqs): while more than 4 share a step,
    "auto" sends 2 tokens per response, and each stream still carries the same greedy tokens."""
    from concurrent.futures import ThreadPoolExecutor

    prompt_ids = tokenizer.encode(PROMPT)
    alone = sum(engine_chunks(cpu_server.options.grpc_url, prompt_ids), [])
    with ThreadPoolExecutor(8) as pool:
        streams = list(pool.map(lambda _: engine_chunks(cpu_server.options.grpc_url, prompt_ids), range(8)))
    assert all(sum(chunks, []) == alone for chunks in streams)
    assert all(len(chunks[0]) == 1 for chunks in streams)
    # Mostly 2 tokens per response (about 22 responses a stream where one per token is 41); a writer
    # that keeps up would send one per token by its backlog alone (the rule before the load rule).
    responses = sum(len(chunks) for chunks in streams)
    assert responses < 0.75 * 8 * (TOKENS + 1), [len(chunks) for chunks in streams]
