"""The LLM-API engine model's frontend end to end, in process, against the CPU stand-in of
TensorRT-LLM's LLM API (python_backend/llmapi_emulator) running the real exported model. Triton is
replaced by what it hands the model: a request's inputs and a response sender (as in
test_engine_frontend.py); the tensorrt_llm side is the stand-in the emulated repository ships."""

from __future__ import annotations

import importlib
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from python_backend.contract import trtllm_backend as bc
from python_backend.contract.word_lists import to_word_list
from python_backend.llmapi import launch
from python_backend.llmapi.frontend import LlmApiFrontend
from python_backend.llmapi.metrics import StatsPoller, TrtLlmMetrics
from python_backend.triton_io.triton_api import Status

ROOT = Path(__file__).resolve().parents[3]
STAND_IN = ROOT / "python_backend/llmapi_emulator"
FINAL = 1
PROMPT = [1, 504, 3575, 282, 4649, 314]  # a short prompt in the bundled model's vocabulary


@pytest.fixture(scope="module")
def tensorrt_llm():
    """The stand-in, importable only inside this module (as only inside the emulated repository)."""
    sys.path.insert(0, str(STAND_IN))
    try:
        yield importlib.import_module("tensorrt_llm")
    finally:
        sys.path.remove(str(STAND_IN))
        for name in [n for n in sys.modules if n == "tensorrt_llm" or n.startswith("tensorrt_llm.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def llm(tensorrt_llm, checkpoint_dir, onnx_fp32, tmp_path_factory):
    model = tmp_path_factory.mktemp("llmapi-model")
    for item in Path(checkpoint_dir).iterdir():
        (model / item.name).symlink_to(item)
    (model / "onnx").symlink_to(onnx_fp32)
    yaml_path = model / "model.yaml"
    yaml_path.write_text(
        f"model: {model}\nmax_seq_len: 96\nmax_batch_size: 4\nenable_iter_perf_stats: true\n"
        "gather_generation_logits: true\n"
        "guided_decoding_backend: xgrammar\ntriton_config:\n  max_batch_size: 8\n"
    )
    kwargs = launch.llm_kwargs(yaml_path)
    instance = tensorrt_llm.LLM(**kwargs)
    instance.guided = launch.guided_decoding_on(kwargs)
    yield instance
    instance.shutdown()


class Builder:
    final_flag = FINAL

    @staticmethod
    def data(tensors):
        return tensors

    @staticmethod
    def error(message, status=Status.INTERNAL):
        return {"error": message, "status": status}

    @staticmethod
    def empty():
        return {}


class Sender:
    def __init__(self, cancel_after: int | None = None):
        self.sent = []
        self.done = threading.Event()
        self.cancel_after = cancel_after

    def send(self, response=None, flags=0):
        self.sent.append((response, flags))
        if flags & FINAL:
            self.done.set()

    def is_cancelled(self):
        return self.cancel_after is not None and len(self.sent) >= self.cancel_after


class Request:
    def __init__(self, request_id="", sender=None, **inputs):
        self.sender = sender or Sender()
        self._id = request_id
        self._inputs = inputs

    def get(self, name):
        return self._inputs.get(name)

    def request_id(self):
        return self._id

    def parameters(self):
        return "{}"

    def requested_output_names(self):
        return set(bc.OUTPUTS)


def one(value, dtype=np.int32):
    return np.asarray([[value]], dtype=dtype)


def make_request(request_id="", sender=None, max_tokens=8, **inputs):
    return Request(
        request_id,
        sender,
        input_ids=np.asarray([PROMPT], dtype=np.int32),
        input_lengths=one(len(PROMPT)),
        request_output_len=one(max_tokens),
        end_id=one(2),
        **inputs,
    )


@pytest.fixture(scope="module")
def frontend(llm, tensorrt_llm):
    from tensorrt_llm.llmapi import GuidedDecodingParams

    api = SimpleNamespace(
        SamplingParams=tensorrt_llm.SamplingParams, GuidedDecodingParams=GuidedDecodingParams
    )
    front = LlmApiFrontend(
        llm,
        api,
        exclude_input_in_output=False,
        cancellation_check_period_ms=10,
        declared=set(bc.OUTPUTS),
        model_name="engine",
        responses=Builder(),
        guided_decoding=llm.guided,
    ).start()
    yield front
    front.close()


def run(frontend, request, timeout=120):
    frontend.submit(request)
    assert request.sender.done.wait(timeout), "no FINAL response"
    return request.sender.sent


def tokens(sent):
    return [
        t for response, _ in sent if "output_ids" in response for t in response["output_ids"][0][0].tolist()
    ]


def test_greedy_streaming_equals_non_streaming(frontend):
    whole = run(frontend, make_request())
    streamed = run(frontend, make_request(streaming=np.asarray([[True]])))
    assert len(whole) == 1 and whole[0][1] == FINAL
    # Not streaming: the prompt first (exclude_input_in_output false); streaming: deltas, never the prompt.
    assert tokens(whole)[: len(PROMPT)] == PROMPT
    assert tokens(streamed) == tokens(whole)[len(PROMPT) :]
    assert [flags for _, flags in streamed] == [0] * (len(streamed) - 1) + [FINAL]
    assert all(r["sequence_length"][0][0] == r["output_ids"].shape[-1] for r, _ in streamed)


def test_seeded_siblings_repeat_and_differ(frontend):
    def answers():
        sent = run(
            frontend,
            make_request(
                num_return_sequences=one(2),
                temperature=one(1.0, np.float32),
                runtime_top_k=one(50),
                seed=one(7, np.uint64),
                exclude_input_in_output=np.asarray([[True]]),
            ),
        )
        by_index = {int(r["sequence_index"][0][0]): r["output_ids"][0][0].tolist() for r, _ in sent}
        assert sorted(by_index) == [0, 1] and [f for _, f in sent].count(FINAL) == 1
        return by_index

    first, second = answers(), answers()
    assert first == second  # seed 7 and 8: reproducible...
    assert first[0] != first[1]  # ...and the siblings differ


def test_a_multi_token_stop_word_ends_the_output_with_it(frontend):
    greedy = tokens(run(frontend, make_request(exclude_input_in_output=np.asarray([[True]]))))
    word = greedy[2:4]
    stopped = tokens(
        run(
            frontend,
            make_request(
                exclude_input_in_output=np.asarray([[True]]), stop_words_list=to_word_list([word])[None]
            ),
        )
    )
    assert stopped == greedy[:4]


def test_log_probs_and_perf_outputs_come_with_the_tokens(frontend):
    sent = run(
        frontend,
        make_request(
            streaming=np.asarray([[True]]),
            return_log_probs=np.asarray([[True]]),
            return_perf_metrics=np.asarray([[True]]),
        ),
    )
    for response, _ in sent:
        assert response["output_log_probs"].shape[-1] == response["output_ids"].shape[-1]
        assert response["arrival_time_ns"][0][0] > 0
    assert all(v <= 0 for r, _ in sent for v in r["output_log_probs"].reshape(-1))


def test_logits_come_in_the_tensorrt_llm_models_shapes(frontend):
    flags = {n: np.asarray([[True]]) for n in ("return_generation_logits", "return_context_logits")}
    ((response, flags_sent),) = run(frontend, make_request(max_tokens=3, **flags))
    generated = response["output_ids"].shape[-1] - len(PROMPT)
    vocab = response["generation_logits"].shape[-1]
    assert response["generation_logits"].shape == (1, 1, generated, vocab) and vocab > 1000
    assert response["context_logits"].shape == (1, len(PROMPT), vocab)


def test_a_regex_guide_holds(frontend, tokenizer):
    guide = {
        "guided_decoding_guide_type": np.asarray([[b"regex"]], dtype=object),
        "guided_decoding_guide": np.asarray([[b"[0-9]{3}"]], dtype=object),
    }
    out = tokens(run(frontend, make_request(exclude_input_in_output=np.asarray([[True]]), **guide)))
    assert tokenizer.decode(out, skip_special_tokens=True).strip().isdigit()


def wait_idle(frontend, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while (frontend.in_flight() or frontend.admission.counts()[0]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert frontend.in_flight() == 0 and frontend.admission.counts()[0] == 0


def test_a_cancelled_client_is_aborted_in_the_executor(frontend):
    cancelled = frontend.admission.counts()[1]
    sender = Sender(cancel_after=1)
    sent = run(frontend, make_request(sender=sender, max_tokens=60, streaming=np.asarray([[True]])))
    # Aborted after the first response: far fewer than 60 tokens, ending with a FINAL response.
    assert len(tokens(sent)) < 60 and sent[-1][1] == FINAL
    wait_idle(frontend)
    assert frontend.admission.counts()[1] == cancelled + 1  # triton_llm_requests_cancelled_total's count


def test_a_stop_request_aborts_the_requests_of_its_id(frontend):
    running = make_request("r-7", max_tokens=60, streaming=np.asarray([[True]]))
    frontend.submit(running)
    deadline = time.monotonic() + 60
    while not running.sender.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    cancelled = frontend.admission.counts()[1]
    stop = Request("r-7", stop=np.asarray([[True]]))
    assert run(frontend, stop) == [({}, FINAL)]  # one output-less FINAL response
    assert frontend.admission.counts()[1] == cancelled + 1
    assert running.sender.done.wait(30) and len(tokens(running.sender.sent)) < 60
    no_id = run(frontend, Request("", stop=np.asarray([[True]])))
    assert no_id[0][0]["error"] == "Trying to stop a request but request ID is not provided"


def test_a_stop_taken_before_the_loop_runs_its_request_still_stops_it(frontend):
    """execute() hands both requests to the loop and returns; a stop of the same id taken right after
    the request must find it, even if the loop has not yet started serving it (a client that
    cancels at once). The loop is held busy while both are submitted, so the stop is queued before the
    request's sequences can be submitted to the LLM: the order a busy server gives them."""
    cancelled = frontend.admission.counts()[1]
    running = make_request("r-8", max_tokens=60, streaming=np.asarray([[True]]))
    stop = Request("r-8", stop=np.asarray([[True]]))
    release = threading.Event()
    frontend.loop.call_soon_threadsafe(release.wait, 30)
    try:
        frontend.submit(running)
        frontend.submit(stop)
    finally:
        release.set()
    assert stop.sender.done.wait(30) and stop.sender.sent == [({}, FINAL)]
    assert running.sender.done.wait(60), "no FINAL response"
    # Aborted as soon as it was submitted: far fewer than 60 tokens, and counted as cancelled.
    assert len(tokens(running.sender.sent)) < 60
    wait_idle(frontend)
    assert frontend.admission.counts()[1] == cancelled + 1


def test_an_error_at_submit_is_that_requests_error_only(frontend):
    long_prompt = Request(
        input_ids=np.asarray([[5] * 100], dtype=np.int32),
        input_lengths=one(100),
        request_output_len=one(4),
        end_id=one(2),
    )
    (response, flags), *_ = run(frontend, long_prompt)
    # The stand-in's RequestError: the prompt leaves no room under max_seq_len 96.
    assert flags == FINAL and response["status"] is Status.INVALID_ARG and "max_seq_len" in response["error"]
    assert tokens(run(frontend, make_request(max_tokens=2)))  # and the model goes on serving


def test_iteration_stats_feed_the_nv_trt_llm_families(frontend, llm):
    from test_llmapi_metrics import Recorder

    run(frontend, make_request(max_tokens=4))
    pb = Recorder()
    poller = StatsPoller(llm, TrtLlmMetrics(pb, "engine", "1"), 100, frontend.in_flight)
    poller.poll_once()
    assert pb.get("nv_trt_llm_kv_cache_block_metrics", kv_cache_block_type="tokens_per") is not None
    poller.poll_once()  # nothing ran since: an idle engine holds no request
    assert pb.get("nv_trt_llm_request_metrics", request_type="active") == 0


def test_past_queue_plus_batch_sequences_a_request_is_refused_as_the_cpp_path_refuses_it(llm, tensorrt_llm):
    from tensorrt_llm.llmapi import GuidedDecodingParams

    api = SimpleNamespace(
        SamplingParams=tensorrt_llm.SamplingParams, GuidedDecodingParams=GuidedDecodingParams
    )
    bounded = LlmApiFrontend(
        llm,
        api,
        exclude_input_in_output=False,
        cancellation_check_period_ms=10,
        declared=set(bc.OUTPUTS),
        model_name="engine",
        responses=Builder(),
        guided_decoding=llm.guided,
        max_queue_size=1,
        max_batch_size=2,
    ).start()
    try:
        # Three sequences fill the bound (2 running + 1 queued): a request of two siblings is then refused.
        def pair():
            return make_request(max_tokens=4, num_return_sequences=one(2), seed=one(1, np.uint64))

        held = [make_request(max_tokens=40, streaming=np.asarray([[True]])) for _ in range(3)]
        for request in held:
            bounded.submit(request)
        (response, flags), *more = run(bounded, pair(), timeout=5)
        assert not more and flags == FINAL and response["status"] is Status.INTERNAL
        assert response["error"] == "Maximum queue size of 1 has been reached, please try again later"
        for request in held:
            assert request.sender.done.wait(120) and tokens(request.sender.sent)
        wait_idle(bounded)
        assert tokens(run(bounded, pair()))  # the bound counts what is held, not what was ever taken
    finally:
        bounded.close()
