"""The engine config as it was before the fixes of issue 12 defects 1 and 2 fails on the emulated GPU
repository as it would on a GPU, and TensorRT-LLM's own stop request reaches the engine through it.
(What a client's cancellation does there: test_emulated_serving.py.)

Defect 1 gets a server of its own (TEST_PORT_BASE + 120..122), which fails to start. The rest share
a second emulated repository (TEST_PORT_BASE + 110..112) serving, beside the fixed models,
engine_before_fix_2 (the engine config declaring only arrival_time_ns of the ten perf outputs) and
ensemble_before_fix_2 routing the ensemble through it.
"""

from __future__ import annotations

import queue
import shutil
import time

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from emulated_gpu_servers import (
    add_ensemble_variant,
    edit_engine,
    emulated_repository,
    metric,
    start_server,
)
from suite_ports import SCRATCH, test_port

from build_engines.trtllm.emulated import EmulatedLimits
from build_engines.trtllm.engine_config import ENGINE_OUTPUTS
from client import LLMClient, ServerError
from python_backend.contract import trtllm_backend as bc

# image_libs: also run under the NGC image's library versions (make test-image).
pytestmark = [pytest.mark.integration, pytest.mark.image_libs]

PORTS = (test_port(110), test_port(111), test_port(112))
BEFORE_FIX_1_PORTS = (test_port(120), test_port(121), test_port(122))
EXIT_TIMEOUT_S = 4
GUIDED = ("tokenizer_dir", "xgrammar_tokenizer_info_path", "guided_decoding_backend")
# Before the fix: of the ten perf outputs only arrival_time_ns was declared (the rest as today). Today's
# ensemble also feeds kv_cache_reused_blocks to postprocessing (cached_tokens), so it stays declared:
# the eight others are still undeclared, which is the defect.
OLD_OUTPUTS = tuple(
    o
    for o in ENGINE_OUTPUTS
    if o not in bc.PERF_METRICS or o in ("arrival_time_ns", "kv_cache_reused_blocks")
)
SMALL = EmulatedLimits(max_batch_size=4, max_seq_len=256, max_num_tokens=256)


@pytest.fixture(scope="module")
def defects_server(checkpoint_dir, onnx_fp32):
    repo = emulated_repository(
        checkpoint_dir, onnx_fp32, SCRATCH / "test_emulated_gpu_defects_repository", SMALL
    )
    edit_engine(repo, "engine_before_fix_2", keep_outputs=OLD_OUTPUTS)
    add_ensemble_variant(
        repo, "ensemble_before_fix_2", engine="engine_before_fix_2", engine_outputs=OLD_OUTPUTS
    )
    server = start_server(
        repo, PORTS, log_name="test_emulated_gpu_defects_tritonserver.log", exit_timeout_s=EXIT_TIMEOUT_S
    )
    yield server
    server.stop()


def test_defect_1_without_the_guided_decoding_parameters_the_gpu_repository_does_not_load(
    checkpoint_dir, onnx_fp32
):
    repo = emulated_repository(
        checkpoint_dir, onnx_fp32, SCRATCH / "test_emulated_gpu_before_fix_1_repository", SMALL
    )
    edit_engine(repo, drop_parameters=GUIDED)  # the engine config gpu-repo wrote before the fix
    for name in (
        "ensemble",
        "preprocessing",
        "postprocessing",
    ):  # the engine alone is enough to fail (and quicker)
        shutil.rmtree(repo / name)
    with pytest.raises(RuntimeError, match="before becoming ready"):
        start_server(repo, BEFORE_FIX_1_PORTS, log_name="test_emulated_gpu_before_fix_1.log").stop()
    log = (SCRATCH / "test_emulated_gpu_before_fix_1.log").read_text(errors="replace")
    # The backend reads tokenizer_dir first of the three (getGuidedDecodingConfigFromParams).
    expected = bc.LOAD_FAILURE.format(error=bc.MISSING_PARAMETER.format(name="tokenizer_dir"))
    assert f"failed to load 'engine' version 1: Internal: TritonModelException: {expected}" in log


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_defect_2_with_undeclared_perf_outputs_every_response_is_the_backends_error(defects_server, protocol):
    url = defects_server.options.grpc_url if protocol == "grpc" else defects_server.options.http_url
    client = LLMClient(url, protocol, timeout_s=60, model="ensemble_before_fix_2")
    with pytest.raises(ServerError) as failure:
        client.generate("Hi", stream=protocol == "grpc", max_tokens=4, chat=True)
    expected = bc.UNDECLARED_OUTPUT_ERROR.format(
        name="kv_cache_alloc_new_blocks", model="engine_before_fix_2"
    )
    assert expected in str(failure.value)
    # The fixed configuration, same server, same request: an answer.
    fixed = LLMClient(url, protocol, timeout_s=60).generate(
        "Hi", stream=protocol == "grpc", max_tokens=4, chat=True
    )
    assert fixed.output_tokens > 0


# -- cancellation
# --------------------------------------------------------------------------------------------------
def _ensemble_stream(server, request_id: str, max_tokens: int):
    client = grpcclient.InferenceServerClient(server.options.grpc_url)
    responses: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    inputs = []
    for name, value, dtype in (
        ("text_input", np.array([[b"Tell me a long story about a ship."]], dtype=object), "BYTES"),
        ("max_tokens", np.array([[max_tokens]], np.int32), "INT32"),
        ("stream", np.array([[True]]), "BOOL"),
        ("apply_chat_template", np.array([[True]]), "BOOL"),
    ):
        tensor = grpcclient.InferInput(name, list(value.shape), dtype)
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    client.async_stream_infer("ensemble", inputs, request_id=request_id, enable_empty_final_response=True)
    return client, responses


def _engine(server, name: str) -> float:
    return metric(server, name, 'model="engine"')


def _wait_engine_idle(server, timeout_s: float = 60.0) -> float:
    started = time.monotonic()
    while _engine(server, "triton_llm_active_requests") != 0:
        assert time.monotonic() - started < timeout_s, "the engine still holds requests"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_stop_request_with_the_ensembles_request_id_ends_its_engine_sequence(defects_server):
    # The ensemble passes the client's request id to its steps, and the backend stops every request
    # that arrived with the stop request's id (handleStopRequest): a way to cancel that reaches the engine.
    client, responses = _ensemble_stream(defects_server, "stop-me", 200)
    for _ in range(3):
        result, error = responses.get(timeout=60)
        assert error is None
    tokens_before = _engine(defects_server, "triton_llm_generation_tokens_total")
    stopper = grpcclient.InferenceServerClient(defects_server.options.grpc_url)
    answers: queue.Queue = queue.Queue()
    stopper.start_stream(callback=lambda result, error: answers.put((result, error)))
    inputs = []
    for name, value in (
        ("input_ids", np.array([[0]], np.int32)),
        ("input_lengths", np.array([[1]], np.int32)),
        ("request_output_len", np.array([[1]], np.int32)),
        ("stop", np.array([[True]])),
    ):
        tensor = grpcclient.InferInput(name, list(value.shape), "BOOL" if value.dtype == bool else "INT32")
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    stopper.async_stream_infer("engine", inputs, request_id="stop-me", enable_empty_final_response=True)
    result, error = answers.get(timeout=10)
    assert error is None and result.get_response().outputs == []  # one output-less final response
    # The ensemble stream now ends early: its last response is final.
    while (
        not (item := responses.get(timeout=30))[0]
        .get_response()
        .parameters["triton_final_response"]
        .bool_param
    ):
        assert item[1] is None
    _wait_engine_idle(defects_server, timeout_s=60)  # a wait, not a timing: the count below is the check
    assert _engine(defects_server, "triton_llm_generation_tokens_total") - tokens_before < 150
    for c in (client, stopper):
        c.stop_stream()
        c.close()
