"""The stand-in's constructors against the pinned extract: exactly its fields, exactly its defaults,
and upstream's validation messages. No engine is started here."""

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
# Only this module sees the stand-in: it is importable nowhere else (test_import_fails_elsewhere).
sys.path.insert(0, str(ROOT / "python_backend/llmapi_emulator"))

from tensorrt_llm import LLM, SamplingParams  # noqa: E402
from tensorrt_llm.executor import CompletionOutput, LoRARequest  # noqa: E402
from tensorrt_llm.llmapi import (  # noqa: E402
    CudaGraphConfig,
    GuidedDecodingParams,
    KvCacheConfig,
    SchedulerConfig,
    TorchLlmArgs,
    update_llm_args_with_extra_dict,
)
from tensorrt_llm.llmapi import config_models as cm  # noqa: E402
from tensorrt_llm.sampling_params import GuidedDecodingParams as AliasedGuided  # noqa: E402

PYDANTIC = {
    "KvCacheConfig": cm.KvCacheConfig,
    "CudaGraphConfig": cm.CudaGraphConfig,
    "SchedulerConfig": cm.SchedulerConfig,
    "MoeConfig": cm.MoeConfig,
    "Nvfp4GemmConfig": cm.Nvfp4GemmConfig,
    "AttentionDpConfig": cm.AttentionDpConfig,
    "PeftCacheConfig": cm.PeftCacheConfig,
    "TorchCompileConfig": cm.TorchCompileConfig,
    "LoraConfig": cm.LoraConfig,
    "EagleDecodingConfig": cm.EagleDecodingConfig,
    "NGramDecodingConfig": cm.NGramDecodingConfig,
    "MTPDecodingConfig": cm.MTPDecodingConfig,
    "DraftTargetDecodingConfig": cm.DraftTargetDecodingConfig,
    "TorchLlmArgs": TorchLlmArgs,
}
DATACLASSES = {"SamplingParams": SamplingParams, "GuidedDecodingParams": GuidedDecodingParams}
REQUIRED = {"TorchLlmArgs": {"model": "m"}}

# The extract's defaults that are Python expressions, and what each evaluates to upstream.
EXPRESSIONS = {
    "default_factory=KvCacheConfig": cm.KvCacheConfig(),
    "default_factory=SchedulerConfig": cm.SchedulerConfig(),
    "default_factory=CudaGraphConfig": cm.CudaGraphConfig(),
    "default_factory=MoeConfig": cm.MoeConfig(),
    "default_factory=Nvfp4GemmConfig": cm.Nvfp4GemmConfig(),
    "default_factory=dict": {},
    "default_factory=list": [],
    "1024**3": 1024**3,
    # enum defaults: the stand-in carries a member by its name
    "LoadFormat.AUTO": "AUTO",
    "SamplerType.auto": "auto",
    "CapacitySchedulerPolicy.GUARANTEED_NO_EVICT": "GUARANTEED_NO_EVICT",
}
# TorchLlmArgs' validators fill these when left None (docs/upstream/trtllm-llm-api.md c: validate_misc,
# set_default_max_input_len, init_backend).
VALIDATED = {"max_batch_size": 2048, "max_beam_width": 1, "max_input_len": 1024, "backend": "pytorch"}


def expected(cls: str, name: str):
    default = EXTRACT[cls]["fields"][name]["default"]
    if cls == "TorchLlmArgs" and name in VALIDATED:
        return VALIDATED[name]
    return EXPRESSIONS.get(default, default) if isinstance(default, str) else default


@pytest.mark.parametrize("cls", sorted(PYDANTIC))
def test_config_defaults_are_the_extracts(cls):
    instance = PYDANTIC[cls](**REQUIRED.get(cls, {}))
    for name in EXTRACT[cls]["fields"]:
        if name in REQUIRED.get(cls, {}):
            continue
        assert getattr(instance, name) == expected(cls, name), f"{cls}.{name}"
    # exactly the extract's fields, no more
    assert set(type(instance).model_fields) == set(EXTRACT[cls]["fields"])


@pytest.mark.parametrize("cls", sorted(PYDANTIC))
def test_config_refuses_an_unknown_field_by_name(cls):
    with pytest.raises(ValidationError) as err:
        PYDANTIC[cls](**REQUIRED.get(cls, {}), not_a_field=1)
    assert "not_a_field" in str(err.value) and "Extra inputs are not permitted" in str(err.value)


@pytest.mark.parametrize("cls", sorted(DATACLASSES))
def test_dataclass_defaults_and_strictness(cls):
    kind = DATACLASSES[cls]
    instance = kind()
    assert [f.name for f in dataclasses.fields(kind)] == list(EXTRACT[cls]["fields"])
    derived = {"best_of": 1} if cls == "SamplingParams" else {}  # __post_init__: best_of = best_of or n
    for name, facts in EXTRACT[cls]["fields"].items():
        assert getattr(instance, name) == derived.get(name, facts["default"]), f"{cls}.{name}"
    with pytest.raises(TypeError, match="unexpected keyword argument 'not_a_field'"):
        kind(not_a_field=1)
    with pytest.raises(AttributeError):  # slots: nothing can be added after construction either
        instance.not_a_field = 1


def test_result_and_request_types_follow_the_extract():
    output = CompletionOutput(0)
    assert output.token_ids == [] and output.finish_reason is None and output.logprobs == []
    with pytest.raises(TypeError, match="not_a_field"):
        CompletionOutput(0, not_a_field=1)
    request = LoRARequest("a", 1)
    assert (request.lora_path, request.lora_ckpt_source) == ("", "hf")
    with pytest.raises(TypeError, match="not_a_field"):
        LoRARequest("a", 1, not_a_field=1)
    with pytest.raises(ValueError, match=r"lora_path \(/nonexistent\) does not exist\."):
        LoRARequest("a", 1, "/nonexistent")


def test_guided_decoding_params_has_one_path_and_one_guide():
    assert AliasedGuided is GuidedDecodingParams
    with pytest.raises(ValueError, match=r"^Only one guide can be used for a request, but got 2\.$"):
        SamplingParams(guided_decoding=GuidedDecodingParams(json_object=True, regex="a+"))


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
def test_sampling_params_validation_messages(kwargs, message):
    with pytest.raises(ValueError) as err:
        SamplingParams(**kwargs)
    assert str(err.value).startswith(message)


def test_sampling_params_post_init(monkeypatch):
    params = SamplingParams(end_id=7, n=2, temperature=0.8)
    assert (params.pad_id, params.best_of, params.max_tokens, params.exclude_input_from_output) == (
        7,
        2,
        32,
        True,
    )
    assert SamplingParams()._greedy_decoding  # none of temperature/top_p/top_k: greedy
    assert SamplingParams(temperature=0.7, top_k=1)._greedy_decoding  # top_k 1 implies greedy
    assert not SamplingParams(top_p=0.9)._greedy_decoding
    assert SamplingParams(logprobs=True).logprobs == 1  # "logprob=True for Top-1 logprobs"
    monkeypatch.setenv("TLLM_ALLOW_N_GREEDY_DECODING", "1")
    assert SamplingParams(n=2).best_of == 2


def test_llm_args_nested_and_speculative():
    args = TorchLlmArgs(
        model="m",
        kv_cache_config={"max_tokens": 4096, "enable_block_reuse": False},
        cuda_graph_config=None,
        speculative_config={"decoding_type": "NGram", "max_draft_len": 3, "max_matching_ngram_size": 2},
    )
    assert isinstance(args.kv_cache_config, KvCacheConfig) and args.kv_cache_config.max_tokens == 4096
    assert args.cuda_graph_config is None and type(args.speculative_config).__name__ == "NGramDecodingConfig"
    with pytest.raises(ValidationError, match="kv_cache_config.bogus"):
        TorchLlmArgs(model="m", kv_cache_config={"bogus": 1})
    with pytest.raises(ValidationError, match="Speculation type Medusa does not support backend pytorch"):
        TorchLlmArgs(model="m", speculative_config={"decoding_type": "Medusa"})
    with pytest.raises(ValidationError, match="Invalid decoding type: Bogus"):
        TorchLlmArgs(model="m", speculative_config={"decoding_type": "Bogus"})
    with pytest.raises(ValidationError, match="must be a float between 0 and 1"):
        KvCacheConfig(free_gpu_memory_fraction=1.5)
    with pytest.raises(ValidationError, match="stream_interval must be positive, got 0"):
        TorchLlmArgs(model="m", stream_interval=0)
    with pytest.raises(ValidationError, match="capacity_scheduler_policy"):
        SchedulerConfig(capacity_scheduler_policy="FASTEST")
    assert CudaGraphConfig(batch_sizes=[1, 2], max_batch_size=2).max_batch_size == 2
    merged = update_llm_args_with_extra_dict(
        {"kv_cache_config": {"max_tokens": 10}}, {"kv_cache_config": {"enable_block_reuse": False}}
    )
    assert merged["kv_cache_config"] == {"max_tokens": 10, "enable_block_reuse": False}


def test_llm_refuses_before_loading_anything(tmp_path):
    with pytest.raises(ValidationError, match="not_an_argument"):
        LLM(model="/nonexistent", not_an_argument=1)
    with pytest.raises(ValidationError, match="tokenizer_mode"):
        LLM("/nonexistent", None, "fast")  # _TorchLLM's positional order: model, tokenizer, tokenizer_mode
    with pytest.raises(ValueError, match=r"^LLM\(backend='tensorrt'\): not supported by the CPU stand-in"):
        LLM(model="/nonexistent", backend="tensorrt")
    with pytest.raises(ValueError, match=r"^LLM\(load_format='DUMMY'\)"):
        LLM(model="/nonexistent", load_format="dummy")  # upper-cased, as TorchLlmArgs does
    with pytest.raises(ValueError, match="no ONNX export at"):
        LLM(model=str(tmp_path))


def test_import_fails_elsewhere():
    """`make engines`' interpreter probe must keep finding no TensorRT-LLM in the project's .venv."""
    from build_engines.trtllm.interpreter import has_tensorrt_llm

    run = subprocess.run(
        [sys.executable, "-c", "import tensorrt_llm"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 1 and "No module named 'tensorrt_llm'" in run.stderr
    assert not has_tensorrt_llm(sys.executable)
