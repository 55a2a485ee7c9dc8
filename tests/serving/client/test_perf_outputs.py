"""TensorRT-LLM's return_perf_metrics through the ensemble: the ten perf outputs, with the meaning
python_backend/contract/perf_metrics.py gives them, on the CPU repository (only when asked) and on
the emulated GPU one (always: TensorRT-LLM writes arrival_time_ns, postprocessing's key, only with
return_perf_metrics, so that repository sets it on every request and refuses a `false`)."""

import pytest
from grpc_stream import stream_responses

from client.types import GenerateRequest
from python_backend.contract.perf_metrics import NAMES

pytestmark = pytest.mark.integration
PROMPT = "Write one sentence about the sea, the wind and the boats."


def perf_of(result) -> dict | None:
    values = {name: result.as_numpy(name) for name in NAMES}
    present = [name for name, value in values.items() if value is not None]
    assert present in ([], list(NAMES)), f"some perf outputs only: {present}"
    return {name: value.reshape(-1)[0].item() for name, value in values.items()} if present else None


def always_on(server) -> bool:
    return "emulated" in str(server.options.model_repository)


@pytest.mark.parametrize("stream", [True, False])
def test_the_perf_outputs_tell_when_and_how_much(server, stream):
    values = {
        **GenerateRequest(PROMPT, max_tokens=6, min_tokens=6, chat=True).inputs(stream),
        "return_perf_metrics": True,
        "return_num_input_tokens": True,
    }
    data = [
        (r, perf_of(r))
        for r in stream_responses(server.options.grpc_url, values)
        if r.as_numpy("num_input_tokens") is not None
    ]
    assert data and all(p is not None for _, p in data)
    _, first = data[0]
    last_result, last = data[-1]
    assert len({p["arrival_time_ns"] for _, p in data}) == 1
    assert 0 < first["arrival_time_ns"] <= first["first_scheduled_time_ns"] <= first["first_token_time_ns"]
    assert all(p["last_token_time_ns"] == 0 for _, p in data[:-1])  # set when the sequence finishes
    assert last["last_token_time_ns"] >= last["first_token_time_ns"]
    assert (
        last["kv_cache_alloc_new_blocks"] + last["kv_cache_reused_blocks"]
        == last["kv_cache_alloc_total_blocks"]
    )
    if not always_on(server):  # the CPU engine's blocks are one token: prompt + generated
        held = int(last_result.as_numpy("num_input_tokens").reshape(-1)[0]) + 6
        assert last["kv_cache_alloc_total_blocks"] == held
    assert (last["acceptance_rate"], last["total_accepted_draft_tokens"], last["total_draft_tokens"]) == (
        0.0,
        0,
        0,
    )


def test_not_asked_they_stay_out_unless_the_engine_needs_them(server):
    results = stream_responses(
        server.options.grpc_url, GenerateRequest(PROMPT, max_tokens=3, chat=True).inputs(True)
    )
    carried = [perf_of(r) is not None for r in results if r.as_numpy("text_output") is not None]
    assert carried and all(c == always_on(server) for c in carried)


def test_false_is_honoured_or_refused_by_name(server):
    values = {**GenerateRequest(PROMPT, max_tokens=3, chat=True).inputs(True), "return_perf_metrics": False}
    if always_on(server):
        with pytest.raises(Exception, match="return_perf_metrics: false is not served"):
            stream_responses(server.options.grpc_url, values)
    else:
        assert all(perf_of(r) is None for r in stream_responses(server.options.grpc_url, values))


def test_cached_prompt_tokens_show_as_reused_blocks(cpu_server):
    # CPU only: its blocks hold one token, so reused blocks and cached tokens are the same number.
    values = {**GenerateRequest(PROMPT, max_tokens=2, chat=True).inputs(False), "return_perf_metrics": True}
    stream_responses(cpu_server.options.grpc_url, values)  # warms the prefix cache
    result = stream_responses(cpu_server.options.grpc_url, values)[-1]
    perf = perf_of(result)
    assert perf["kv_cache_reused_blocks"] == int(result.as_numpy("cached_tokens").reshape(-1)[0]) > 0


SUMMARY_PROMPT = (
    "Repeat this sentence exactly: The harbour town woke slowly on winter mornings, and the fishing "
    "boats rocked against the stone quay."
)


def test_speculation_is_asked_per_request_and_reported_under_tensorrt_llm_s_names(server):
    # Triton request parameter speculative_draft_len (no tensor: tensorrtllm_backend has none).
    values = {
        **GenerateRequest(SUMMARY_PROMPT, max_tokens=24, chat=True).inputs(True),
        "return_perf_metrics": True,
    }

    def run(parameters):
        results = stream_responses(server.options.grpc_url, values, parameters=parameters)
        text = "".join(
            r.as_numpy("text_output").reshape(-1)[0].decode()
            for r in results
            if r.as_numpy("text_output") is not None
        )
        return text, [p for p in map(perf_of, results) if p is not None][-1]

    if always_on(server):  # TensorRT-LLM would ignore it: refused rather than ignored
        with pytest.raises(Exception, match="speculative_draft_len: .*not served"):
            run({"speculative_draft_len": 4})
        return
    plain_text, plain = run({"speculative_draft_len": 0})
    text, perf = run({"speculative_draft_len": 4})
    assert text == plain_text and plain["total_draft_tokens"] == 0
    assert perf["total_draft_tokens"] >= perf["total_accepted_draft_tokens"] > 0
    assert perf["acceptance_rate"] == pytest.approx(
        perf["total_accepted_draft_tokens"] / perf["total_draft_tokens"]
    )
    with pytest.raises(Exception, match=r"speculative_draft_len: must be in \[0, 8\], got 9"):
        run({"speculative_draft_len": 9})
