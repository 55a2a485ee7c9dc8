"""The stand-in's constructors against the pinned extract: exactly its fields, exactly its defaults,
and upstream's validation messages. No engine is started here. `trt` (conftest.py) is the stand-in."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[3]
EXTRACT = json.loads((ROOT / "python_backend/contract/llmapi_fields.json").read_text())["classes"]

PYDANTIC = (
    "KvCacheConfig",
    "CudaGraphConfig",
    "SchedulerConfig",
    "MoeConfig",
    "Nvfp4GemmConfig",
    "AttentionDpConfig",
    "PeftCacheConfig",
    "TorchCompileConfig",
    "LoraConfig",
    "EagleDecodingConfig",
    "NGramDecodingConfig",
    "MTPDecodingConfig",
    "DraftTargetDecodingConfig",
    "TorchLlmArgs",
)
DATACLASSES = ("SamplingParams", "GuidedDecodingParams")
REQUIRED = {"TorchLlmArgs": {"model": "m"}}
# The extract's enum defaults: the stand-in carries a member by its name.
ENUMS = {
    "LoadFormat.AUTO": "AUTO",
    "SamplerType.auto": "auto",
    "CapacitySchedulerPolicy.GUARANTEED_NO_EVICT": "GUARANTEED_NO_EVICT",
}
# TorchLlmArgs' validators fill these when left None (docs/upstream/trtllm-llm-api.md c: validate_misc,
# set_default_max_input_len, init_backend).
VALIDATED = {"max_batch_size": 2048, "max_beam_width": 1, "max_input_len": 1024, "backend": "pytorch"}


def model_class(trt, name: str):
    return getattr(trt.config_models, name, None) or getattr(trt.llmapi, name)


def expected(trt, cls: str, name: str):
    """What the extract says cls.name defaults to, its expressions evaluated as upstream does."""
    default = EXTRACT[cls]["fields"][name]["default"]
    if cls == "TorchLlmArgs" and name in VALIDATED:
        return VALIDATED[name]
    if not isinstance(default, str):
        return default
    if default.startswith("default_factory="):
        factory = default.split("=", 1)[1]
        return (
            {"dict": {}, "list": []}.get(factory)
            if factory in ("dict", "list")
            else model_class(trt, factory)()
        )
    if default == "1024**3":
        return 1024**3
    return ENUMS.get(default, default)


@pytest.mark.parametrize("cls", PYDANTIC)
def test_config_defaults_are_the_extracts(trt, cls):
    kind = model_class(trt, cls)
    instance = kind(**REQUIRED.get(cls, {}))
    for name in EXTRACT[cls]["fields"]:
        if name not in REQUIRED.get(cls, {}):
            assert getattr(instance, name) == expected(trt, cls, name), f"{cls}.{name}"
    assert set(kind.model_fields) == set(EXTRACT[cls]["fields"])  # exactly the extract's fields


@pytest.mark.parametrize("cls", PYDANTIC)
def test_config_refuses_an_unknown_field_by_name(trt, cls):
    with pytest.raises(ValidationError) as err:
        model_class(trt, cls)(**REQUIRED.get(cls, {}), not_a_field=1)
    assert "not_a_field" in str(err.value) and "Extra inputs are not permitted" in str(err.value)


def test_config_refuses_a_value_of_the_wrong_type_by_name(trt):
    # typed by their defaults: a bool field takes no "maybe", a number field no word, a str field no number
    for kwargs, field in (
        ({"enable_partial_reuse": "maybe"}, "enable_partial_reuse"),
        ({"event_buffer_max_size": "many"}, "event_buffer_max_size"),
        ({"dtype": 3}, "dtype"),
    ):
        with pytest.raises(ValidationError, match=field):
            trt.llmapi.KvCacheConfig(**kwargs)
    assert (
        trt.llmapi.TorchLlmArgs(model="m", batch_wait_max_tokens_ratio=0.5).batch_wait_max_tokens_ratio == 0.5
    )


@pytest.mark.parametrize("cls", DATACLASSES)
def test_dataclass_defaults_and_strictness(trt, cls):
    kind = getattr(trt.llmapi, cls)
    instance = kind()
    assert [f.name for f in dataclasses.fields(kind)] == list(EXTRACT[cls]["fields"])
    derived = {"best_of": 1} if cls == "SamplingParams" else {}  # __post_init__: best_of = best_of or n
    for name, facts in EXTRACT[cls]["fields"].items():
        assert getattr(instance, name) == derived.get(name, facts["default"]), f"{cls}.{name}"
    with pytest.raises(TypeError, match="unexpected keyword argument 'not_a_field'"):
        kind(not_a_field=1)
    with pytest.raises(AttributeError):  # slots: nothing can be added after construction either
        instance.not_a_field = 1


def test_result_and_request_types_follow_the_extract(trt):
    output = trt.executor.CompletionOutput(0)
    assert output.token_ids == [] and output.finish_reason is None and output.logprobs == []
    with pytest.raises(TypeError, match="not_a_field"):
        trt.executor.CompletionOutput(0, not_a_field=1)
    request = trt.executor.LoRARequest("a", 1, "/")
    assert (request.lora_path, request.lora_ckpt_source) == ("/", "hf")
    assert trt.llmapi.LoRARequest is trt.executor.LoRARequest
    with pytest.raises(TypeError, match="not_a_field"):
        trt.executor.LoRARequest("a", 1, not_a_field=1)
    # 1.2.1's __post_init__ checks `lora_path is not None`, so the empty default path fails as well
    with pytest.raises(ValueError, match=r"^lora_path \(/nonexistent\) does not exist\.$"):
        trt.executor.LoRARequest("a", 1, "/nonexistent")
    with pytest.raises(ValueError, match=r"^lora_path \(\) does not exist\.$"):
        trt.executor.LoRARequest("a", 1)
    with pytest.raises(ValueError, match=r"^lora_ckpt_source must be 'hf' or 'nemo', got 'peft'$"):
        trt.executor.LoRARequest("a", 1, "/", "peft")


def test_guided_decoding_params_has_one_class_and_one_guide(trt):
    guided = trt.llmapi.GuidedDecodingParams
    assert trt.sampling_params.GuidedDecodingParams is guided
    with pytest.raises(ValueError, match=r"^Only one guide can be used for a request, but got 2\.$"):
        trt.tensorrt_llm.SamplingParams(guided_decoding=guided(json_object=True, regex="a+"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_p": 1.5}, "require 0 <= top_p <= 1, got top_p=1.5"),
        ({"top_k": -1}, "require top_k >= 0, got top_k=-1"),
        ({"temperature": -0.5}, "require temperature >= 0, got temperature=-0.5"),
        ({"n": 3, "best_of": 2, "temperature": 1.0}, "best_of (2) cannot be less than n (3)"),
        ({"truncate_prompt_tokens": 0}, "truncate_prompt_tokens must be >= 1, got 0"),
        ({"n": 2}, "Greedy decoding in the LLM API does not allow multiple returns. Please set to best_of=1"),
    ],
)
def test_sampling_params_validation_messages(trt, kwargs, message):
    with pytest.raises(ValueError) as err:
        trt.tensorrt_llm.SamplingParams(**kwargs)
    assert str(err.value).startswith(message)


def test_sampling_params_post_init(trt, monkeypatch):
    sampling = trt.tensorrt_llm.SamplingParams
    params = sampling(end_id=7, n=2, temperature=0.8)
    assert (params.pad_id, params.best_of, params.max_tokens, params.exclude_input_from_output) == (
        7,
        2,
        32,
        True,
    )
    assert sampling()._greedy_decoding  # none of temperature/top_p/top_k: greedy
    assert sampling(temperature=0.7, top_k=1)._greedy_decoding  # top_k 1 implies greedy
    assert not sampling(top_p=0.9)._greedy_decoding
    assert sampling(logprobs=True).logprobs == 1  # "logprob=True for Top-1 logprobs"
    monkeypatch.setenv("TLLM_ALLOW_N_GREEDY_DECODING", "1")
    assert sampling(n=2).best_of == 2


def test_llm_args_nested_and_speculative(trt):
    llmapi = trt.llmapi
    args = llmapi.TorchLlmArgs(
        model="m",
        kv_cache_config={"max_tokens": 4096, "enable_block_reuse": False},
        cuda_graph_config=None,
        speculative_config={"decoding_type": "NGram", "max_draft_len": 3, "max_matching_ngram_size": 2},
    )
    assert isinstance(args.kv_cache_config, llmapi.KvCacheConfig) and args.kv_cache_config.max_tokens == 4096
    assert args.cuda_graph_config is None and isinstance(args.speculative_config, llmapi.NGramDecodingConfig)
    with pytest.raises(ValidationError, match="kv_cache_config.bogus"):
        llmapi.TorchLlmArgs(model="m", kv_cache_config={"bogus": 1})
    with pytest.raises(ValidationError, match="Speculation type Medusa does not support backend pytorch"):
        llmapi.TorchLlmArgs(model="m", speculative_config={"decoding_type": "Medusa"})
    with pytest.raises(ValidationError, match="Invalid decoding type: Bogus"):
        llmapi.TorchLlmArgs(model="m", speculative_config={"decoding_type": "Bogus"})
    with pytest.raises(ValidationError, match="must be a float between 0 and 1"):
        llmapi.KvCacheConfig(free_gpu_memory_fraction=1.5)
    with pytest.raises(ValidationError, match="stream_interval must be positive, got 0"):
        llmapi.TorchLlmArgs(model="m", stream_interval=0)
    with pytest.raises(ValidationError, match="capacity_scheduler_policy"):
        llmapi.SchedulerConfig(capacity_scheduler_policy="FASTEST")
    assert llmapi.CudaGraphConfig(batch_sizes=[1, 2], max_batch_size=2).max_batch_size == 2
    merged = llmapi.update_llm_args_with_extra_dict(
        {"kv_cache_config": {"max_tokens": 10}}, {"kv_cache_config": {"enable_block_reuse": False}}
    )
    assert merged["kv_cache_config"] == {"max_tokens": 10, "enable_block_reuse": False}


def test_llm_refuses_before_loading_anything(trt, tmp_path):
    llm = trt.tensorrt_llm.LLM
    with pytest.raises(ValidationError, match="not_an_argument"):
        llm(model="/nonexistent", not_an_argument=1)
    with pytest.raises(ValidationError, match="tokenizer_mode"):
        llm("/nonexistent", None, "fast")  # _TorchLLM's positional order: model, tokenizer, tokenizer_mode
    with pytest.raises(ValueError, match=r"^LLM\(backend='tensorrt'\): not supported by the CPU stand-in"):
        llm(model="/nonexistent", backend="tensorrt")
    with pytest.raises(ValueError, match=r"^LLM\(load_format='DUMMY'\)"):
        llm(model="/nonexistent", load_format="dummy")  # upper-cased, as TorchLlmArgs does
    with pytest.raises(ValueError, match="no ONNX export at"):
        llm(model=str(tmp_path))


def test_import_fails_elsewhere():
    """`make engines`' interpreter probe must keep finding no TensorRT-LLM in the project's .venv."""
    from build_engines.trtllm.interpreter import has_tensorrt_llm

    run = subprocess.run(
        [sys.executable, "-c", "import tensorrt_llm"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 1 and "No module named 'tensorrt_llm'" in run.stderr
    assert not has_tensorrt_llm(sys.executable)
