"""The CPU repository over the ov-fp32 variant (`make serve PRECISION=ov-fp32`) on a real tritonserver:
the acceptance suite passes against it, its greedy output equals the OpenVINO engine's own, and what
the pipeline lacks is refused by name through the ensemble. Its first run builds ov-fp32 (and, once per
machine, the peers' environment optimum-intel runs in)."""

from __future__ import annotations

import pytest
from suite_ports import SCRATCH, test_port

from acceptance import suite
from acceptance.target import Target
from client import LLMClient, ServerError
from python_backend.engine.config import EngineConfig
from python_backend.engine.sequence import SamplingParams
from python_backend.openvino.ov_engine import OpenVINOEngine
from python_backend.openvino.pipeline import OpenVINOSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def openvino_repository(checkpoint_dir, openvino_fp32):
    from build_engines.openvino.repository import assemble_openvino

    # the session CPU repository's limits (tests/conftest.py test_repository)
    return assemble_openvino(
        SCRATCH / "openvino_repository",
        checkpoint_dir,
        openvino_fp32,
        max_seq_len=512,
        max_num_seqs=8,
        max_queue_size=8,
    )


@pytest.fixture(scope="module")
def openvino_server(openvino_repository):
    from server.tritonserver import ServerOptions, TritonServer

    ports = (test_port(300), test_port(301), test_port(302))
    options = ServerOptions(openvino_repository, *ports, exit_timeout_s=10)
    with TritonServer(options, log_path=SCRATCH / "openvino_tritonserver.log") as running:
        yield running


@pytest.fixture(scope="module")
def grpc(openvino_server):
    return LLMClient(openvino_server.options.grpc_url, "grpc", timeout_s=120)


def test_the_acceptance_suite_passes(openvino_server, tmp_path):
    o = openvino_server.options
    target = Target(o.host, o.http_port, o.grpc_port, o.metrics_port)
    done = suite.run_all(target, tmp_path, load_seconds=8, load_users=4, log=lambda *_: None)
    assert [r.name for r in done] == list(suite.CHECKS)
    failed = {r.name: r.details for r in done if not r.passed}
    assert not failed


def test_greedy_output_through_triton_equals_the_engine_called_directly(grpc, openvino_repository, tokenizer):
    prompt = "Name the largest planet in the solar system."
    served = grpc.generate(prompt, max_tokens=32, chat=True)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
    )
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    settings = OpenVINOSettings(
        model_dir=openvino_repository / "engine" / "1" / "openvino",
        inference_precision="f32",
        kv_cache_precision="f32",
    )
    engine = OpenVINOEngine(EngineConfig(max_num_seqs=1, max_seq_len=512), settings)
    try:
        tokens, _ = engine.start().generate(ids, SamplingParams(max_tokens=32, end_ids=(2,)))
    finally:
        engine.shutdown()
    assert served.text == tokenizer.decode(tokens, skip_special_tokens=True)
    assert served.text.strip()


def test_streamed_text_equals_the_whole_response(grpc):
    prompt = "Écris une phrase en français avec des accents: é, è, à, ç."
    streamed = grpc.generate(prompt, stream=True, max_tokens=40, chat=True)
    whole = grpc.generate(prompt, stream=False, max_tokens=40, chat=True)
    assert streamed.text.encode("utf-8") == whole.text.encode("utf-8")


def test_generation_logits_are_refused_by_name(grpc):
    # the repository says the engine returns no logits (preprocess.OPENVINO_ENGINE): refused up front
    with pytest.raises(ServerError, match="return_generation_logits"):
        grpc.generate("Say hello.", max_tokens=8, logits=True)
