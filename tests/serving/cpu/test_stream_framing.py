"""Streaming framing through the real tritonserver: the session server runs the default,
stream_interval "auto" (the first token alone, then responses spaced by how many streams share
an engine step: python_backend/triton_io/stream_framing.py); a second server runs
stream_interval 1 (one token per response, tensorrtllm_backend's framing). The same greedy request
must carry the same tokens and the same text on both: framing may change how many responses a
client gets, never what they say."""

import queue
import time

import numpy as np
import pytest
from suite_ports import SCRATCH, test_port

from client import wire
from python_backend.triton_io.model_configs import AUTO, EngineModelConfig
from python_backend.triton_io.stream_framing import RESPONSES_PER_SECOND

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
    """(seconds since sent, result) of every response of one streamed request, the empty final one
    included."""
    import tritonclient.grpc as grpcclient

    responses: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(grpc_url)
    client.start_stream(callback=lambda result, error: responses.put((time.monotonic(), result, error)))
    sent = time.monotonic()
    client.async_stream_infer(model, inputs, enable_empty_final_response=True)
    results = []
    try:
        while True:
            received, result, error = responses.get(timeout=300)
            assert error is None, error
            results.append((received - sent, result))
            if result.get_response().parameters["triton_final_response"].bool_param:
                return results
    finally:
        client.stop_stream()
        client.close()


def engine_chunks(grpc_url: str, prompt_ids: list[int]) -> list[list[int]]:
    """The token ids of each response of the engine model (TensorRT-LLM's tensorrt_llm I/O)."""
    return [ids for _, ids in timed_engine_chunks(grpc_url, prompt_ids)]


def timed_engine_chunks(grpc_url: str, prompt_ids: list[int]) -> list[tuple[float, list[int]]]:
    """(seconds since sent, token ids) of each response of the engine model."""
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
        (at, r.as_numpy("output_ids").reshape(-1).tolist())
        for at, r in results
        if r.as_numpy("output_ids") is not None
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
        for _, r in results
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


def test_auto_framing_spaces_responses_when_eight_streams_share_the_steps(cpu_server, tokenizer):
    """8 concurrent streams (the session server's max_num_seqs) of one prompt decode together: "auto"
    sends each stream's responses after the first at least 8 / RESPONSES_PER_SECOND s apart
    (stream_framing.py), and each stream still carries the same greedy tokens. The spacing is the
    server's, by when the engine produced the tokens; how many responses that makes depends on how
    fast the engine steps, so the bound is from each stream's own duration."""
    from concurrent.futures import ThreadPoolExecutor

    prompt_ids = tokenizer.encode(PROMPT)
    alone = sum(engine_chunks(cpu_server.options.grpc_url, prompt_ids), [])
    with ThreadPoolExecutor(8) as pool:
        streams = list(
            pool.map(lambda _: timed_engine_chunks(cpu_server.options.grpc_url, prompt_ids), range(8))
        )
    assert all(sum((ids for _, ids in chunks), []) == alone for chunks in streams)
    assert all(len(chunks[0][1]) == 1 for chunks in streams)
    # Between the first response and the final one, responses at least gap apart: at most
    # span / gap + 1 of them. The gap taken is 6 streams' (not 8: a client that connected a step
    # late shares fewer steps), the span gets 0.1 s for delivery jitter. One token per response
    # would be 40 responses in the ~1.5 s these 40 steps take here.
    gap = 6 / RESPONSES_PER_SECOND
    for chunks in streams:
        between = [at for at, ids in chunks[1:-1] if ids]
        span = chunks[-1][0] - chunks[0][0]
        assert len(between) <= (span + 0.1) / gap + 1, [len(ids) for _, ids in chunks]
