"""Every ONNX variant (fp32, int8, int4) answers through the real tritonserver with the
tokens its own engine gives when called in-process (greedy): the engine model's config and files,
read back from the served repository, drive an LLMEngine here, and the served `engine` model must
return the same tokens for each verification prompt. Serving may frame and batch; it may not change
what a variant says."""

import json

import numpy as np
import pytest
from suite_ports import SCRATCH, test_port

from build_engines import model_config
from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.sequence import SamplingParams
from python_backend.triton_io.model_configs import EngineModelConfig

pytestmark = pytest.mark.integration

TOKENS = 24  # min_tokens = max_tokens: both sides generate exactly this many


# Each quantized variant on a server of its own (fp32 is the session's server).
OWN_PORTS = {"int8": 1600, "int4": 1610}


@pytest.fixture(scope="module", params=sorted(OWN_PORTS))
def quantized_server(request, checkpoint_dir):
    from build_engines.onnx import repository
    from server.tritonserver import ServerOptions, TritonServer

    precision = request.param
    export = request.getfixturevalue(f"onnx_{precision}")
    repo = repository.assemble_cpu(
        SCRATCH / f"test_repository_{precision}", checkpoint_dir, export, max_seq_len=512, max_num_seqs=8
    )
    base = OWN_PORTS[precision]
    options = ServerOptions(
        repo, test_port(base), test_port(base + 1), test_port(base + 2), exit_timeout_s=10
    )
    with TritonServer(options, log_path=SCRATCH / f"test_tritonserver_{precision}.log") as running:
        yield precision, running


def prompts(tokenizer) -> list[list[int]]:
    from build_engines.onnx.reference import DATA

    texts = json.loads((DATA / "prompts.json").read_text())["prompts"]
    return [tokenizer.encode(text) for text in texts]


def own_tokens(repository, prompt_ids) -> list[list[int]]:
    """Each prompt's tokens from the served engine model's own config and export, in-process."""
    engine_dir = repository / "engine"
    served = model_config.load(engine_dir / "config.pbtxt").parameters
    config = EngineModelConfig.from_parameters({key: value.string_value for key, value in served.items()})
    engine = LLMEngine(config.engine, engine_dir / "1" / config.onnx_dir).start()
    try:
        params = SamplingParams(max_tokens=TOKENS, min_tokens=TOKENS)
        return [engine.generate(ids, params)[0] for ids in prompt_ids]
    finally:
        engine.shutdown()


def served_tokens(grpc_url, prompt_ids) -> list[list[int]]:
    """Each prompt's tokens from the served `engine` model (TensorRT-LLM's I/O; decoupled, so over a
    gRPC stream), one request at a time, not streamed: one response with every token."""
    import queue

    import tritonclient.grpc as grpcclient

    def tensor(name, array):
        t = grpcclient.InferInput(name, list(array.shape), grpcclient.np_to_triton_dtype(array.dtype))
        t.set_data_from_numpy(array)
        return t

    responses: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(grpc_url)
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    try:
        answers = []
        for ids in prompt_ids:
            inputs = [
                tensor("input_ids", np.array([ids], np.int32)),
                tensor("input_lengths", np.array([[len(ids)]], np.int32)),
                tensor("request_output_len", np.array([[TOKENS]], np.int32)),
                tensor("min_tokens", np.array([[TOKENS]], np.int32)),
            ]
            client.async_stream_infer("engine", inputs)
            result, error = responses.get(timeout=300)
            assert error is None, error
            answers.append(result.as_numpy("output_ids").reshape(-1).tolist())
        return answers
    finally:
        client.stop_stream()
        client.close()


def test_fp32_through_triton_says_what_its_engine_says(tokenizer, cpu_server, test_repository):
    prompt_ids = prompts(tokenizer)
    served = served_tokens(cpu_server.options.grpc_url, prompt_ids)
    assert served == own_tokens(test_repository, prompt_ids)
    assert all(len(tokens) == TOKENS for tokens in served)


def test_a_quantized_variant_through_triton_says_what_its_engine_says(tokenizer, quantized_server):
    _, server = quantized_server
    prompt_ids = prompts(tokenizer)
    served = served_tokens(server.options.grpc_url, prompt_ids)
    assert served == own_tokens(server.options.model_repository, prompt_ids)
    assert all(len(tokens) == TOKENS for tokens in served)
