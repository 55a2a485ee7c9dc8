"""The GPU repository on the Triton here, its engine backend emulated: it loads, answers through the
ensemble over gRPC streaming and HTTP, frames engine responses as the tensorrtllm backend does, and
postprocessing's arrival_time_ns keys stay apart under concurrent arrivals.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from emulated_gpu_servers import GPU_REPO_ARGS, metric

from build_engines import model_config
from build_engines.trtllm.emulated import run_gpu_repo
from client import LLMClient
from python_backend.contract import trtllm_backend as bc

# image_libs: also run under the NGC image's library versions (make test-image).
pytestmark = [pytest.mark.integration, pytest.mark.image_libs]

PROMPTS = (
    "Write one sentence about the sea.",
    "Name three colours.",
    "¿Qué es un volcán? Responde en una frase.",
)


# -- the repository is gpu-repo's ----------------------------------------------------------------------------
def test_only_the_engine_backend_differs_from_what_gpu_repo_writes(
    emulated_gpu_server, checkpoint_dir, tmp_path
):
    repo = emulated_gpu_server.options.model_repository
    # Assembled, like the emulated one, for where it is written (emulated.assemble_emulated's default).
    mount = ["--repo-mount-path", str((tmp_path / "gpu").resolve())]
    run_gpu_repo(
        repo.parent / f"{repo.name}_engine", checkpoint_dir, tmp_path / "gpu", [*mount, *GPU_REPO_ARGS]
    )
    for name in ("ensemble", "preprocessing", "engine", "postprocessing"):
        emulated = model_config.load(repo / name / "config.pbtxt")
        written = model_config.load(tmp_path / "gpu" / name / "config.pbtxt")
        if name == "engine":
            assert (written.backend, emulated.backend) == ("tensorrtllm", "python")
            written.backend = "python"
            # Paths (gpt_model_path, the tokenizer-info file) name files inside each repository.
            for config, root in ((written, tmp_path / "gpu"), (emulated, repo)):
                assert (
                    config.parameters["gpt_model_path"].string_value
                    == f"{root.resolve()}/engine/1/trtllm_engine"
                )
                for value in config.parameters.values():
                    value.string_value = value.string_value.replace(str(root.resolve()), "REPO")
        assert model_config.dump(emulated) == model_config.dump(written), name
    with urllib.request.urlopen(f"{emulated_gpu_server.options.http_url}/v2/models/engine") as response:
        assert {o["name"] for o in json.load(response)["outputs"]} >= set(bc.PERF_METRICS)


# -- the ensemble
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_streamed_text_equals_non_streamed_text_byte_for_byte(emulated_gpu_server, protocol):
    url = emulated_gpu_server.options.grpc_url if protocol == "grpc" else emulated_gpu_server.options.http_url
    client = LLMClient(url, protocol, timeout_s=60)
    for prompt in PROMPTS if protocol == "grpc" else PROMPTS[1:]:
        whole = client.generate(prompt, stream=False, max_tokens=16, chat=True)
        streamed = client.generate(prompt, stream=True, max_tokens=16, chat=True)
        assert streamed.text.encode() == whole.text.encode() and whole.text.strip()
        assert streamed.output_tokens == whole.output_tokens
        assert len(whole.chunk_times_s) == 1 and len(streamed.chunk_times_s) >= streamed.output_tokens


def test_concurrent_streams_keep_their_own_text(emulated_gpu_server):
    # Postprocessing finds a stream's detokenizer state by arrival_time_ns: if two concurrent streams
    # got one key, their texts would mix. Six streams at once.
    client = LLMClient(emulated_gpu_server.options.grpc_url, timeout_s=120)
    prompts = [f"Count from {i} to {i + 5}." for i in range(6)]
    alone = [client.generate(p, max_tokens=10, chat=True).text for p in prompts]
    with ThreadPoolExecutor(len(prompts)) as pool:
        together = list(
            pool.map(lambda p: client.generate(p, stream=True, max_tokens=10, chat=True).text, prompts)
        )
    assert together == alone


# -- the engine model itself, as a client of the tensorrtllm backend sees it
# ----------------------------------------
class EngineStream:
    """Requests straight to the decoupled `engine` model over one gRPC stream, responses by request id."""

    def __init__(self, server):
        self.client = grpcclient.InferenceServerClient(server.options.grpc_url)
        self.responses: dict[str, queue.Queue] = {}
        self.lock = threading.Lock()
        self.client.start_stream(callback=self._on_response)

    def _on_response(self, result, error):
        with self.lock:
            # An error carries no request id: every waiting request sees it (none is expected).
            targets = (
                [self.responses[result.get_response().id]] if error is None else list(self.responses.values())
            )
        for target in targets:
            target.put((result, error))

    def send(self, request_id: str, prompts: list[list[int]], max_tokens: int, **inputs) -> None:
        width = max(len(p) for p in prompts)
        tensors = {
            "input_ids": np.array([p + [0] * (width - len(p)) for p in prompts], np.int32),
            "input_lengths": np.array([[len(p)] for p in prompts], np.int32),
            "request_output_len": np.array([[max_tokens]] * len(prompts), np.int32),
            "return_perf_metrics": np.array([[True]] * len(prompts)),
            **inputs,
        }
        infer_inputs = []
        for name, value in tensors.items():
            tensor = grpcclient.InferInput(
                name, list(value.shape), "BOOL" if value.dtype == bool else "INT32"
            )
            tensor.set_data_from_numpy(value)
            infer_inputs.append(tensor)
        with self.lock:
            self.responses.setdefault(request_id, queue.Queue())
        self.client.async_stream_infer(
            "engine", infer_inputs, request_id=request_id, enable_empty_final_response=True
        )

    def collect(self, request_id: str, timeout_s: float = 60) -> list:
        """Every response of one request up to the FINAL one: (output_ids row, outputs dict, final)."""
        out = []
        while True:
            result, error = self.responses[request_id].get(timeout=timeout_s)
            assert error is None, error
            response = result.get_response()
            final = response.parameters["triton_final_response"].bool_param
            names = {o.name for o in response.outputs}
            row = result.as_numpy("output_ids").reshape(-1).tolist() if "output_ids" in names else None
            out.append((row, {n: result.as_numpy(n) for n in names}, final))
            if final:
                return out

    def close(self):
        self.client.stop_stream()
        self.client.close()


@pytest.fixture
def engine(emulated_gpu_server):
    stream = EngineStream(emulated_gpu_server)
    yield stream
    stream.close()


PROMPT_IDS = [
    1,
    4093,
    198,
    26843,
    2,
    198,
    1,
    520,
    9531,
    198,
]  # "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_streaming_engine_responses_carry_only_new_tokens_and_final_on_the_last_one(engine):
    # No end_id input: the executor has no end id, so exactly request_output_len tokens come back.
    engine.send("s1", [PROMPT_IDS], 5, streaming=np.array([[True]]))
    responses = engine.collect("s1")
    assert [len(row) for row, _, _ in responses] == [1] * 5  # one new token each, never the prompt
    assert [final for _, _, final in responses] == [False] * 4 + [True]  # no empty final response
    for _, outputs, _ in responses:
        assert set(bc.PERF_METRICS) <= set(outputs) and outputs["output_ids"].shape == (1, 1, 1)
        assert outputs["sequence_length"].tolist() == [[1]] and outputs["arrival_time_ns"].shape == (1, 1)
    assert len({int(o["arrival_time_ns"][0, 0]) for _, o, _ in responses}) == 1


def test_a_non_streaming_engine_response_is_one_response_with_the_prompt_unless_excluded(engine):
    engine.send("n1", [PROMPT_IDS], 5, exclude_input_in_output=np.array([[False]]))
    ((row, outputs, final),) = engine.collect("n1")
    assert final and row[: len(PROMPT_IDS)] == PROMPT_IDS and len(row) == len(PROMPT_IDS) + 5
    assert outputs["sequence_length"].tolist() == [[len(PROMPT_IDS) + 5]]
    engine.send("n2", [PROMPT_IDS], 5)  # the repository's parameter: exclude_input_in_output=true
    ((row2, _, _),) = engine.collect("n2")
    assert row2 == row[len(PROMPT_IDS) :]


def test_a_batched_request_gets_responses_per_row_told_apart_by_arrival_time_and_one_final(engine):
    other = PROMPT_IDS[:3] + [19556, 1115] + PROMPT_IDS[4:]  # another question, another length
    engine.send("b1", [PROMPT_IDS], 4, streaming=np.array([[True]]))
    engine.send("b2", [other], 4, streaming=np.array([[True]]))
    alone = [[r[0] for r, _, _ in engine.collect(k)] for k in ("b1", "b2")]
    engine.send("b3", [PROMPT_IDS, other], 4, streaming=np.array([[True], [True]]))
    responses = engine.collect("b3")
    by_arrival: dict[int, list[int]] = {}
    for row, outputs, _ in responses:
        by_arrival.setdefault(int(outputs["arrival_time_ns"][0, 0]), []).extend(row)
    assert sorted(by_arrival.values()) == sorted(alone)  # two rows, two keys, each row's own tokens
    assert [final for _, _, final in responses].count(True) == 1 and responses[-1][2]


def test_arrival_time_ns_is_distinct_under_concurrent_arrivals(engine):
    # The backend reads the steady clock once per request (backend_contract.ARRIVAL_TIME): nothing makes
    # the value unique, but consecutive readings at ns resolution differ. 8 requests sent back to back
    # (the test repository's batch size, and its queue bound: more would be refused) reach the model in
    # one or two dynamic batches.
    keys = [f"c{i}" for i in range(8)]
    for key in keys:
        engine.send(key, [PROMPT_IDS], 2, streaming=np.array([[True]]))
    arrivals = [int(engine.collect(key)[0][1]["arrival_time_ns"][0, 0]) for key in keys]
    assert len(set(arrivals)) == len(keys)


def test_a_client_cancelling_the_engine_stream_directly_is_seen_within_the_check_period(emulated_gpu_server):
    # Outside an ensemble, Triton marks the engine request's response factory cancelled, and the poll
    # (every cancellation_check_period_ms, 100 here) stops the sequence, as the backend's WaitForCancel.
    server = emulated_gpu_server
    before = metric(server, "triton_llm_requests_cancelled_total", 'model="engine"')
    stream = EngineStream(server)
    stream.send("cancel-direct", [PROMPT_IDS], 400, streaming=np.array([[True]]))
    assert stream.responses["cancel-direct"].get(timeout=60)[1] is None
    stream.client.stop_stream(cancel_requests=True)
    cancelled = time.monotonic()
    while metric(server, "triton_llm_requests_cancelled_total", 'model="engine"') == before:
        assert time.monotonic() - cancelled < 5, "the engine never saw the cancellation"
        time.sleep(0.05)
    stream.client.close()


def test_a_guide_reaches_the_cpu_engine_under_tensorrt_llms_input_names(emulated_gpu_server):
    # gpu-repo turns guided decoding on (xgrammar tokenizer info); the emulator hands the same file to
    # the CPU engine, and the ensemble's guided_decoding_* inputs reach it through the engine config.
    body = {
        "text_input": "Is the sea salty? Answer yes or no.",
        "max_tokens": 8,
        "guided_decoding_guide_type": "regex",
        "guided_decoding_guide": "(yes|no)",
    }
    request = urllib.request.Request(
        f"{emulated_gpu_server.options.http_url}/v2/models/ensemble/generate", data=json.dumps(body).encode()
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.load(response)["text_output"] in ("yes", "no")


def test_cancelled_streams_reach_the_engine_and_leave_nothing_in_flight(emulated_gpu_server):
    # Item 7 of issue 12: with a dynamic batcher, postprocessing's cancelled requests were answered
    # by the batcher with an error, and Triton 2.51 then kept each ensemble request "in flight" for
    # good (every SIGTERM waited out the exit timeout). Postprocessing now has no batcher and stops
    # the engine's request by id (python_backend/triton_io/engine_stop.py). Its own server, so that
    # the SIGTERM at the end is this test's.
    from emulated_gpu_servers import start_server
    from suite_ports import test_port

    own = start_server(
        Path(emulated_gpu_server.options.model_repository),
        (test_port(130), test_port(131), test_port(132)),
        log_name="emulated_cancel_tritonserver.log",
    )
    try:
        before = metric(own, "triton_llm_requests_cancelled_total", 'model="engine"')
        for i in range(5):
            stream = LLMClient(own.options.grpc_url).stream(
                f"Tell story {i} about a fox.", max_tokens=200, chat=True
            )
            for _ in stream:
                break
            stream.close()
        deadline = time.monotonic() + 20
        while metric(own, "triton_llm_requests_cancelled_total", 'model="engine"') < before + 5:
            assert time.monotonic() < deadline, "the engine did not stop every cancelled stream"
            time.sleep(0.2)
    finally:
        code = own.stop(timeout_s=40)
    log = own.log_path.read_text()
    assert not re.search(r"has \d+ in-flight inferences", log) and code == 0
