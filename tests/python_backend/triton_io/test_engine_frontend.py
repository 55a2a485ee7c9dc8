"""The CPU engine model's request side (python_backend/triton_io/engine_frontend.py) on the real
exported model, with stand-ins for what Triton gives it: a request's inputs and its response
sender. Responses are the tensor dicts the model.py adapter would wrap in InferenceResponses."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from python_backend.engine.config import EngineConfig
from python_backend.triton_io.engine_frontend import EngineFrontend
from python_backend.triton_io.model_configs import EngineModelConfig
from python_backend.triton_io.triton_api import Status

FINAL = 1


class Builder:
    """ResponseBuilder that keeps the tensors (or the error) as they are."""

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


class Histogram:
    def observe(self, value):
        pass


class Metrics:
    """Triton's metric families stand-in: the latency histograms and the stats copy."""

    ttft = itl = Histogram()

    def __init__(self):
        self.updates = []

    def update(self, stats):
        self.updates.append(stats)

    def close(self):
        self.closed = True


class Sender:
    def __init__(self):
        self.sent = []
        self.done = threading.Event()

    def send(self, response=None, flags=0):
        self.sent.append((response, flags))
        if flags & FINAL:
            self.done.set()

    def is_cancelled(self):
        return False


class Request:
    """One Triton request: inputs with the batch dimension first."""

    def __init__(self, request_id="", parameters=None, **inputs):
        self.sender = Sender()
        self._id = request_id
        self._parameters = json.dumps(parameters or {})
        self._inputs = inputs

    def get(self, name):
        return self._inputs.get(name)

    def request_id(self):
        return self._id

    def parameters(self):
        return self._parameters

    def requested_output_names(self):
        return set()


def column(*values, dtype=np.int32):
    return np.asarray([[v] for v in values], dtype=dtype)


@pytest.fixture(scope="module")
def frontend(onnx_fp32):
    fatal = []
    config = EngineModelConfig(
        engine=EngineConfig(max_num_seqs=4, max_num_batched_tokens=64, max_seq_len=256, max_queue_size=8),
        onnx_dir=onnx_fp32.name,
    )
    running = EngineFrontend(config, onnx_fp32.parent, Builder(), Metrics(), on_fatal=fatal.append).start()
    yield running
    running.close()
    assert fatal == []


def scalar(response, name):
    return int(response[name].reshape(-1)[0])


def test_a_batch_of_two_prompts_with_two_sequences_each(frontend):
    request = Request(
        "batch",
        input_ids=np.asarray([[1, 504, 3575], [1, 504, 0]], dtype=np.int32),
        input_lengths=column(3, 2),
        request_output_len=column(3, 3),
        min_tokens=column(3, 3),
        num_return_sequences=column(2, 2),
        exclude_input_in_output=column(False, False, dtype=np.bool_),
    )
    frontend.submit(request)
    assert request.sender.done.wait(120)
    sent = request.sender.sent
    # Not streaming: one response per sequence (2 prompts × 2 siblings), FINAL only on the last.
    assert [flags for _, flags in sent] == [0, 0, 0, FINAL]
    named = sorted((scalar(r, "batch_index"), scalar(r, "sequence_index")) for r, _ in sent)
    assert named == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for response, _ in sent:
        ids = response["output_ids"].reshape(-1).tolist()
        prompt = [1, 504, 3575] if scalar(response, "batch_index") == 0 else [1, 504]
        # Each row's own prompt (cut to input_lengths), then exactly min_tokens = max_tokens = 3 tokens.
        assert ids[: len(prompt)] == prompt and len(ids) == len(prompt) + 3
    # Siblings share their prompt's arrival time (postprocessing's key); the two prompts differ.
    arrivals = {scalar(r, "batch_index"): scalar(r, "arrival_time_ns") for r, _ in sent}
    assert len({scalar(r, "arrival_time_ns") for r, _ in sent}) == 2 and arrivals[0] < arrivals[1]
    assert frontend.running.targets(arrivals[0]) == []  # forgotten once the request ended


def test_a_bad_request_is_invalid_arg_with_one_final_response(frontend):
    request = Request("bad", input_ids=np.asarray([[1, 2]], np.int32), request_output_len=column(0))
    frontend.submit(request)
    assert request.sender.sent == [
        ({"error": "request_output_len: must be >= 1, got 0", "status": Status.INVALID_ARG}, FINAL)
    ]


def test_a_stop_request_names_a_running_stream_by_its_arrival_time(frontend):
    stream = Request(
        "long",
        input_ids=np.asarray([[1, 504]], np.int32),
        request_output_len=column(200),
        min_tokens=column(200),
        streaming=column(True, dtype=np.bool_),
    )
    frontend.submit(stream)
    deadline = time.monotonic() + 60
    while not stream.sender.sent and time.monotonic() < deadline:  # wait for the first token
        time.sleep(0.01)
    key = scalar(stream.sender.sent[0][0], "arrival_time_ns")
    stop = Request(str(key), stop=column(True, dtype=np.bool_))
    frontend.submit(stop)
    # The stop request gets one empty final response naming the stream; the stream ends early.
    ((response, flags),) = stop.sender.sent
    assert (response["output_ids"].size, scalar(response, "arrival_time_ns"), flags) == (0, key, FINAL)
    assert stream.sender.done.wait(60)
    generated = sum(r["output_ids"].size for r, _ in stream.sender.sent)
    assert generated < 200


def test_a_stop_request_without_an_arrival_time_is_refused(frontend):
    stop = Request("not-a-number", stop=column(True, dtype=np.bool_))
    frontend.submit(stop)
    ((response, flags),) = stop.sender.sent
    assert (response["status"], flags) == (Status.INVALID_ARG, FINAL)
    assert response["error"].startswith("stop: the request id must be the arrival_time_ns")
