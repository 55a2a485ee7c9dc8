"""The LLM-API engine model's LoRA: lora_name read per row and resolved against the adapter directory
into the LoRARequest fields (a stable non-zero id per adapter version), tensorrtllm_backend's task
inputs refused by name, and, end to end on the CPU stand-in over the LoRA export, a row with an
adapter answering with the CPU engine's tokens for that adapter, an unknown one NOT_FOUND, and the
triton_llm_lora_* families counting it."""

from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from build_engines.lora.adapters import make_test_adapters
from build_engines.lora.export import export_lora
from python_backend.contract import trtllm_backend as bc
from python_backend.contract.errors import InputError, UnknownAdapterError
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.sequence import SamplingParams as EngineParams
from python_backend.llmapi import launch, requests
from python_backend.llmapi.config import LlmApiModelConfig
from python_backend.llmapi.frontend import LlmApiFrontend
from python_backend.llmapi.lora import Adapters
from python_backend.llmapi.metrics import LoraCounters
from python_backend.triton_io.metrics import LoraMetrics
from python_backend.triton_io.triton_api import Status

STAND_IN = Path(__file__).resolve().parents[3] / "python_backend/llmapi_emulator"
A = "test-lora-a"
MAX_TOKENS = 8
FINAL = 1


def one(value, dtype=np.int32):
    return np.asarray([[value]], dtype=dtype)


def getter(**inputs):
    tensors = {
        "input_ids": np.asarray([[5, 6, 7], [8, 9, 10]], dtype=np.int32),
        "input_lengths": np.asarray([[3], [3]], dtype=np.int32),
        "request_output_len": np.asarray([[4], [4]], dtype=np.int32),
        **inputs,
    }
    return tensors.get


def fake_adapter(root: Path, name: str, weights: bytes = b"w") -> Path:
    """An adapter directory entry as contract/adapter_dir.py knows one: its two PEFT files."""
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "adapter_config.json").write_text("{}")
    (path / "adapter_model.safetensors").write_bytes(weights)
    return path


def test_lora_name_is_read_per_row_and_empty_means_the_base_model():
    parsed = requests.parse(
        getter(lora_name=np.asarray([[b"a"], [b""]], dtype=object)), exclude_input_default=False
    )
    assert [row.lora_name for row in parsed.rows] == ["a", None]
    assert [row.lora_name for row in requests.parse(getter(), exclude_input_default=False).rows] == [
        None,
        None,
    ]


@pytest.mark.parametrize("name", ["lora_task_id", "lora_weights", "lora_config"])
def test_tensorrtllm_backend_task_inputs_are_refused_by_name(name):
    with pytest.raises(
        requests.Unsupported, match=rf"^{name}: .*LLM API takes LoRA adapters by path.*lora_name"
    ):
        requests.parse(getter(**{name: np.zeros((2, 1))}), exclude_input_default=False)


def test_an_adapter_resolves_to_a_stable_id_that_changes_with_its_weights(tmp_path):
    fake_adapter(tmp_path, "a")
    fake_adapter(tmp_path, "b")
    adapters = Adapters(str(tmp_path))
    first = adapters.resolve("a")
    assert first.path == str(tmp_path / "a") and first.int_id > 0
    assert adapters.resolve("a") == first  # the same version: the same id, so the LLM API reuses its cache
    assert Adapters(str(tmp_path)).resolve("a") == first  # and in any process (no per-process state)
    assert adapters.resolve("b").int_id != first.int_id
    weights = tmp_path / "a" / "adapter_model.safetensors"
    weights.write_bytes(b"rewritten")  # another size: a new version
    os.utime(weights, ns=(1, 1))
    assert adapters.resolve("a").int_id != first.int_id  # read again by the worker, never stale
    with pytest.raises(UnknownAdapterError, match="'nope' is not in the adapter directory"):
        adapters.resolve("nope")
    with pytest.raises(InputError, match="^lora_name: '../a' is not an adapter name"):
        adapters.resolve("../a")
    with pytest.raises(InputError, match="^lora_name: LoRA is off in this engine model"):
        Adapters("").resolve("a")


def test_lora_dir_needs_a_lora_config_in_model_yaml():
    config = LlmApiModelConfig(lora_dir="/adapters")
    assert LlmApiModelConfig.from_parameters(config.to_parameters()) == config
    assert launch.max_loras(LlmApiModelConfig(), {}) is None
    assert launch.max_loras(config, {"lora_config": {"max_loras": 3}}) == 3
    assert launch.max_loras(config, {"lora_config": {"max_lora_rank": 8}}) == launch.DEFAULT_MAX_LORAS
    with pytest.raises(launch.LaunchError, match="lora_dir is '/adapters' but model.yaml has no lora_config"):
        launch.max_loras(config, {})


# -- end to end on the stand-in --------------------------------------------------------------------
class Recorder:
    """Triton's metrics API as LoraMetrics uses it: families of gauges and counters, recorded."""

    def __init__(self):
        self.values: dict[tuple, float] = {}
        recorder = self

        class MetricFamily:
            GAUGE, COUNTER = "gauge", "counter"

            def __init__(self, name, description, kind):
                self.name = name

            def Metric(self, labels):  # noqa: N802 (Triton's name)
                key = (self.name, tuple(sorted(labels.items())))

                class Metric:
                    def set(self, value):
                        recorder.values[key] = value

                    def increment(self, value):
                        recorder.values[key] = recorder.values.get(key, 0) + value

                return Metric()

        self.MetricFamily = MetricFamily


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
    def __init__(self, **inputs):
        self.sender = Sender()
        self._inputs = inputs

    def get(self, name):
        return self._inputs.get(name)

    def request_id(self):
        return ""

    def requested_output_names(self):
        return set(bc.OUTPUTS)


class Builder:
    final_flag = FINAL

    @staticmethod
    def data(tensors):
        return tensors

    @staticmethod
    def error(message, status=Status.INTERNAL):
        return {"error": message, "status": status}


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
def lora_export(checkpoint_dir, onnx_fp32):
    return export_lora(checkpoint_dir, onnx_fp32)


@pytest.fixture(scope="module")
def lora_dir(checkpoint_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora_dir")
    make_test_adapters(checkpoint_dir, root)
    return root


@pytest.fixture(scope="module")
def prompt(tokenizer):
    return tokenizer.encode("The quick brown fox")


@pytest.fixture(scope="module")
def served(tensorrt_llm, checkpoint_dir, lora_export, lora_dir, tmp_path_factory):
    """The frontend over the stand-in's LLM with LoRA on, its LoRA families recorded."""
    model = tmp_path_factory.mktemp("llmapi-lora-model")
    for item in Path(checkpoint_dir).iterdir():
        (model / item.name).symlink_to(item)
    (model / "onnx").symlink_to(lora_export)
    yaml_path = model / "model.yaml"
    yaml_path.write_text(
        f"model: {model}\nmax_seq_len: 96\nmax_batch_size: 4\nenable_lora: true\n"
        "lora_config: {max_loras: 2, max_lora_rank: 8, lora_target_modules: [attn_q, attn_k, attn_v, "
        "attn_dense, mlp_h_to_4h, mlp_4h_to_h, mlp_gate]}\n"
    )
    config = LlmApiModelConfig(lora_dir=str(lora_dir))
    kwargs = launch.llm_kwargs(yaml_path)
    llm = tensorrt_llm.LLM(**kwargs)
    from tensorrt_llm.llmapi import GuidedDecodingParams, LoRARequest

    api = SimpleNamespace(
        SamplingParams=tensorrt_llm.SamplingParams,
        GuidedDecodingParams=GuidedDecodingParams,
        LoRARequest=LoRARequest,
    )
    recorder = Recorder()
    front = None
    counters = LoraCounters(
        LoraMetrics(recorder), launch.max_loras(config, kwargs), lambda: front.running_adapters()
    )
    front = LlmApiFrontend(
        llm,
        api,
        exclude_input_in_output=True,
        cancellation_check_period_ms=10,
        declared=set(bc.OUTPUTS),
        model_name="engine",
        responses=Builder(),
        guided_decoding=False,
        adapters=Adapters(config.lora_dir),
        lora_metrics=counters,
    ).start()
    yield SimpleNamespace(frontend=front, counters=counters, recorder=recorder)
    front.close()
    llm.shutdown()


def run(frontend, prompt, **inputs):
    request = Request(
        input_ids=np.asarray([prompt], dtype=np.int32),
        input_lengths=one(len(prompt)),
        request_output_len=one(MAX_TOKENS),
        **inputs,
    )
    frontend.submit(request)
    assert request.sender.done.wait(120), "no FINAL response"
    return request.sender.sent


def test_a_row_with_an_adapter_answers_with_that_adapters_tokens(served, lora_export, lora_dir, prompt):
    engine = LLMEngine(EngineConfig(max_seq_len=96, max_loras=1, max_lora_rank=8), lora_export)
    engine.start()
    try:
        engine.load_adapter(A, lora_dir / A)
        expected = {
            name: engine.generate(prompt, EngineParams(max_tokens=MAX_TOKENS, lora_name=name))[0]
            for name in (None, A)
        }
    finally:
        engine.shutdown()
    assert expected[A] != expected[None]  # the adapter changes this prompt's answer
    with_adapter = run(served.frontend, prompt, lora_name=np.asarray([[A.encode()]], dtype=object))
    base = run(served.frontend, prompt)
    assert with_adapter[-1][0]["output_ids"][0][0].tolist() == expected[A]
    assert base[-1][0]["output_ids"][0][0].tolist() == expected[None]
    served.counters.publish()
    values = served.recorder.values
    assert values[("triton_llm_lora_requests_total", (("adapter", A),))] == 1
    assert values[("triton_llm_lora_generation_tokens_total", (("adapter", A),))] == MAX_TOKENS
    idle = ("", "", "2")  # nothing in flight now; waiting is never known on this path
    labels = tuple(zip(("running_lora_adapters", "waiting_lora_adapters", "max_lora"), idle, strict=True))
    assert ("triton_llm_lora_requests_info", tuple(sorted(labels))) in values


def test_an_unknown_adapter_is_not_found_and_task_inputs_are_refused(served, prompt):
    sent = run(served.frontend, prompt, lora_name=np.asarray([[b"missing"]], dtype=object))
    assert sent == [
        (
            {
                "error": "lora_name: adapter 'missing' is not in the adapter directory",
                "status": Status.NOT_FOUND,
            },
            FINAL,
        )
    ]
    sent = run(served.frontend, prompt, lora_task_id=np.asarray([[7]], dtype=np.uint64))
    ((response, flags),) = sent
    assert response["status"] == Status.INVALID_ARG and response["error"].startswith("lora_task_id: ")
