"""LoRA by name on the PyTorch path, served (issue 27): the emulated PyTorch-path repository assembled with
--lora-dir (gpu-repo --gpu-engine pytorch, the stand-in over the LoRA-capable export) on a real
tritonserver. Adapters made with build_engines.lora.adapters in its lora_dir answer through the ensemble
(plain tritonclient) with the CPU engine's greedy tokens for that adapter (as the text they decode to:
the ensemble answers text), base-model requests beside them with the base model's; an unknown adapter
is refused naming it; tensorrtllm_backend's lora_task_id is refused by name; the metrics port counts
per adapter.

Its own server, not the session's (tests/emulated_gpu_servers.py): LoRA on means the LoRA export, and
the session repository's answers stay the plain export's, which the other tests here hold to (its
base-model tokens would not change, but every step would run the LoRA branches, and
test_pytorch_relocation.py holds its files to what gpu-repo writes without LoRA options).
"""

from __future__ import annotations

import queue
import re
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from suite_ports import SCRATCH, test_port

pytestmark = pytest.mark.integration

PORTS = (test_port(1780), test_port(1781), test_port(1782))
A, B = "test-lora-a", "test-lora-b"  # rank 8 on every module; rank 4 on q/v/up/down
PROMPT = "The quick brown fox"  # the base model and both adapters answer it differently
MAX_TOKENS = 10
ROWS = (A, None, B, A)  # sent together: two adapters and the base model share the engine's steps


@pytest.fixture(scope="module")
def lora_server(checkpoint_dir, onnx_fp32, tokenizer):
    """The server, with `expected`: the CPU engine's own answer per adapter. Adapters are read per request,
    so they are copied in (and the CPU engine answers) while the server starts."""
    from emulated_gpu_servers import GPU_REPO_ARGS, TEST_LIMITS, start_server

    from build_engines.llmapi import emulated

    lora_dir = (SCRATCH / "pytorch_lora_adapters").resolve()
    shutil.rmtree(lora_dir, ignore_errors=True)
    lora_dir.mkdir(parents=True)
    lora = ["--lora-dir", str(lora_dir), "--max-loras", "2", "--max-lora-rank", "8"]
    repo = emulated.assemble_emulated(
        checkpoint_dir,
        onnx_fp32,
        SCRATCH / "pytorch_lora_repository",
        TEST_LIMITS,
        None,
        [*GPU_REPO_ARGS, *lora],
    )
    # the server in this thread: it is stopped when the thread that started it ends (parent-death signal)
    with ThreadPoolExecutor(1) as pool:
        answering = pool.submit(cpu_engine_answers, checkpoint_dir, onnx_fp32, tokenizer, lora_dir)
        running = start_server(repo, PORTS, log_name="pytorch_lora_tritonserver.log", exit_timeout_s=5)
        try:
            expected = answering.result()
        except BaseException:
            running.stop()
            raise
    running.lora_dir = lora_dir
    running.expected = expected
    yield running
    running.stop()


def cpu_engine_answers(checkpoint_dir, onnx_fp32, tokenizer, lora_dir) -> dict:
    """The session's test adapters (tests/made_adapters.py: made, or read when made already) copied into
    lora_dir, and the CPU engine's own greedy text per adapter (None: the base model), ending on the
    model's end ids as the ensemble's requests do."""
    from made_adapters import made_adapters

    from build_engines.lora.export import export_lora
    from python_backend.engine.config import EngineConfig
    from python_backend.engine.llm_engine import LLMEngine
    from python_backend.engine.sequence import SamplingParams
    from python_backend.text.tokenizer import generation_end_ids

    for name, path in made_adapters(checkpoint_dir).items():
        shutil.copytree(path, lora_dir / name)
    ends = tuple(generation_end_ids(checkpoint_dir, tokenizer))
    engine = LLMEngine(
        EngineConfig(max_seq_len=128, max_loras=2, max_lora_rank=8), export_lora(checkpoint_dir, onnx_fp32)
    )
    engine.start()
    try:
        out = {}
        for name in (None, A, B):
            if name is not None:
                engine.load_adapter(name, lora_dir / name)
            params = SamplingParams(max_tokens=MAX_TOKENS, end_ids=ends, lora_name=name)
            tokens, _ = engine.generate(tokenizer.encode(PROMPT), params)
            out[name] = tokenizer.decode(tokens, skip_special_tokens=True)
        return out
    finally:
        engine.shutdown()


def generate(server, lora_name: str | None = None, **extra):
    """One request to the ensemble over gRPC (plain tritonclient): its text, or the server's error."""
    import tritonclient.grpc as grpcclient

    def tensor(name, array):
        t = grpcclient.InferInput(name, list(array.shape), grpcclient.np_to_triton_dtype(array.dtype))
        t.set_data_from_numpy(array)
        return t

    inputs = [
        tensor("text_input", np.array([[PROMPT.encode()]], dtype=np.object_)),
        tensor("max_tokens", np.array([[MAX_TOKENS]], dtype=np.int32)),
    ]
    if lora_name is not None:
        inputs.append(tensor("lora_name", np.array([[lora_name.encode()]], dtype=np.object_)))
    inputs += [tensor(name, value) for name, value in extra.items()]
    answers: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(server.options.grpc_url)
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        client.async_stream_infer("ensemble", inputs, enable_empty_final_response=True)
        text = ""
        while True:
            result, error = answers.get(timeout=120)
            if error is not None:
                return error
            if result.as_numpy("text_output") is not None:
                text += "".join(v.decode() for v in result.as_numpy("text_output").reshape(-1))
            if result.get_response().parameters["triton_final_response"].bool_param:
                return text
    finally:
        client.stop_stream()
        client.close()


def test_adapters_in_lora_dir_answer_with_the_cpu_engines_tokens(lora_server):
    expected = lora_server.expected
    assert len(set(expected.values())) == 3  # each adapter changes the answer
    with ThreadPoolExecutor(len(ROWS)) as pool:
        answers = list(pool.map(lambda name: generate(lora_server, name), ROWS))
    assert answers == [expected[name] for name in ROWS], [str(answer) for answer in answers]


def test_an_unknown_adapter_is_refused_naming_it(lora_server):
    # Preprocessing answers NOT_FOUND (the engine model too, for a name it is sent directly: unit tests);
    # through the ensemble Triton 2.51's gRPC stream keeps the message only, which names the adapter.
    error = generate(lora_server, "no-such-adapter")
    assert "lora_name: adapter 'no-such-adapter' is not in the adapter directory" in error.message()


def test_tensorrtllm_task_inputs_are_refused_by_name(lora_server):
    error = generate(lora_server, A, lora_task_id=np.array([[7]], dtype=np.uint64))
    assert "lora_task_id: not served by the LLM-API engine model" in error.message()
    assert "takes LoRA adapters by path" in error.message()


def test_the_metrics_port_counts_per_adapter(lora_server):
    # after the mixed batch above: 2 requests with A, each MAX_TOKENS long at most
    url = f"http://{lora_server.options.host}:{lora_server.options.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    requests = re.search(rf'^triton_llm_lora_requests_total{{adapter="{A}"}} (\S+)$', text, re.MULTILINE)
    assert requests is not None and float(requests.group(1)) >= 2
    info = re.findall(r"^triton_llm_lora_requests_info\{([^}]*)\} (\S+)$", text, re.MULTILINE)
    assert info and all('max_lora="2"' in labels for labels, _ in info)
