"""The CPU repository over each OpenVINO variant (`make serve PRECISION=ov-fp32|ov-bf16|ov-int8`) on a
real tritonserver: the acceptance suite passes against it, its greedy answers equal the ones its gate
recorded through the OpenVINO engine itself, and what the pipeline lacks is refused by name through the
ensemble. One server and one model load per variant: make test's set-up builds the variants (make
openvino-export), a run without them builds them here first."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from suite_ports import SCRATCH, test_port

from acceptance import suite
from acceptance.target import Target
from build_engines import manifest
from build_engines.onnx.reference import ANSWER_TOKENS, questions
from client import LLMClient, ServerError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["ov-fp32", "ov-bf16", "ov-int8"])
def variant_dir(request, openvino_variant) -> Path:
    return openvino_variant(request.param)


@pytest.fixture(scope="module")
def openvino_repository(checkpoint_dir, variant_dir):
    from build_engines.openvino.repository import assemble_openvino

    # the session CPU repository's limits (tests/conftest.py test_repository), but a queue that holds all
    # 10 questions the greedy check sends at once: the OpenVINO engine admits waiting requests into the
    # pipeline only between steps (its step holds the GIL), so at 8 slots more than 8 can be waiting
    return assemble_openvino(
        SCRATCH / f"openvino_repository_{variant_dir.name}",
        checkpoint_dir,
        variant_dir,
        max_seq_len=512,
        max_num_seqs=8,
        max_queue_size=16,
    )


@pytest.fixture(scope="module")
def openvino_server(openvino_repository):
    from server.tritonserver import ServerOptions, TritonServer

    ports = (test_port(300), test_port(301), test_port(302))
    options = ServerOptions(openvino_repository, *ports, exit_timeout_s=10)
    log = SCRATCH / f"openvino_tritonserver_{openvino_repository.name}.log"
    with TritonServer(options, log_path=log) as running:
        yield running


@pytest.fixture(scope="module")
def grpc(openvino_server):
    return LLMClient(openvino_server.options.grpc_url, "grpc", timeout_s=120)


def test_the_acceptance_suite_passes(openvino_server, tmp_path):
    o = openvino_server.options
    target = Target(o.host, o.http_port, o.grpc_port, o.metrics_port)
    done = suite.run_all(target, tmp_path, load_seconds=5, load_users=4, log=lambda *_: None)
    assert [r.name for r in done] == list(suite.CHECKS)
    failed = {r.name: r.details for r in done if not r.passed}
    assert not failed


def test_greedy_answers_through_triton_equal_the_ones_the_gate_recorded(grpc, variant_dir):
    # The gate (build_engines/openvino/quality.py) ran the shipped questions, chat-formatted, through
    # the OpenVINO engine itself, all in flight, greedy, ANSWER_TOKENS each, to an end id, and recorded
    # the answers in the variant's manifest: through the ensemble (preprocessing's chat template, the
    # engine model, postprocessing's detokenizer) the same requests must give the same text.
    recorded = manifest.read(variant_dir)["quality"]["answers"]
    asked = [q["question"] for q in questions()]
    with ThreadPoolExecutor(len(asked)) as pool:
        served = list(pool.map(lambda q: grpc.generate(q, max_tokens=ANSWER_TOKENS, chat=True), asked))
    assert [r.text.strip() for r in served] == recorded
    assert all(recorded)


def test_the_gate_was_measured_in_the_precision_this_cpu_serves_the_variant_in(variant_dir):
    from build_engines.openvino.variants import variant
    from python_backend.openvino.pipeline import computes_in

    built = manifest.read(variant_dir)
    assert built["gated_in"] == computes_in(variant(built["precision"]).inference_precision)


def test_streamed_text_equals_the_whole_response(grpc):
    prompt = "Écris une phrase en français avec des accents: é, è, à, ç."
    streamed = grpc.generate(prompt, stream=True, max_tokens=40, chat=True)
    whole = grpc.generate(prompt, stream=False, max_tokens=40, chat=True)
    assert streamed.text.encode("utf-8") == whole.text.encode("utf-8")


def test_generation_logits_are_refused_by_name(grpc):
    # the repository says the engine returns no logits (preprocess.OPENVINO_ENGINE): refused up front
    with pytest.raises(ServerError, match="return_generation_logits"):
        grpc.generate("Say hello.", max_tokens=8, logits=True)
