"""The generated `engine` config.pbtxt: parses as ModelConfig and keeps the shared tensor contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as pb

from build_engines import model_config
from build_engines.trtllm.engine_config import TrtllmEngineModel
from build_engines.trtllm.lora import LoraCache

ROOT = Path(__file__).resolve().parents[3]


def generated(**fields) -> pb.ModelConfig:
    text = model_config.dump(
        TrtllmEngineModel(engine_path="/models/engine/1/trtllm_engine", **fields).to_model_config()
    )
    return model_config.parse(text, "generated engine config")


def test_config_fields():
    cfg = generated()
    assert (cfg.name, cfg.backend, cfg.max_batch_size) == ("engine", "tensorrtllm", 64)
    assert cfg.model_transaction_policy.decoupled is True
    assert cfg.dynamic_batching.default_queue_policy.max_queue_size == 256
    assert list(cfg.dynamic_batching.preferred_batch_size) == [64]
    assert [(g.count, g.kind) for g in cfg.instance_group] == [(1, pb.ModelInstanceGroup.KIND_CPU)]
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    assert params == {
        "gpt_model_type": "inflight_fused_batching",
        "gpt_model_path": "/models/engine/1/trtllm_engine",
        "tokenizer_dir": "",
        "xgrammar_tokenizer_info_path": "",
        "guided_decoding_backend": "",
        "max_beam_width": "1",
        "batch_scheduler_policy": "guaranteed_no_evict",
        "enable_kv_cache_reuse": "true",
        "enable_chunked_context": "true",
        "exclude_input_in_output": "true",
        "cancellation_check_period_ms": "100",
        "stats_check_period_ms": "100",
        "FORCE_CPU_ONLY_INPUT_TENSORS": "no",
        "kv_cache_free_gpu_mem_fraction": "0.9",
    }


def test_max_tokens_in_paged_kv_cache_alone():
    params = (
        TrtllmEngineModel(
            engine_path="/e", kv_cache_free_gpu_mem_fraction=None, max_tokens_in_paged_kv_cache=100_000
        )
        .to_model_config()
        .parameters
    )
    assert params["max_tokens_in_paged_kv_cache"].string_value == "100000"
    assert "kv_cache_free_gpu_mem_fraction" not in params


def _io(cfg):
    return {
        t.name: (
            t.data_type,
            list(t.dims),
            list(t.reshape.shape) if t.HasField("reshape") else None,
            t.optional,
            t.allow_ragged_batch,
        )
        for t in cfg.input
    }


def test_same_tensor_contract_as_the_cpu_engine():
    # Same inputs, and every CPU output with the same spec; the GPU engine also declares the perf outputs the
    # tensorrtllm backend writes with return_perf_metrics. `stop` is reshaped to a scalar as in the template
    # (the ensemble never sends it; the backend reads its first element whatever the shape).
    # An engine built without LoRA declares none of the CPU engine's lora inputs (see the next test).
    cpu = model_config.load(ROOT / "model_repository" / "engine" / "config.pbtxt")
    gpu = generated()
    base = {n: s for n, s in _io(cpu).items() if n not in LORA_INPUTS}
    assert set(_io(gpu)) == set(base)
    assert {n: s for n, s in _io(gpu).items() if n != "stop"} == {
        n: s for n, s in base.items() if n != "stop"
    }
    gpu_out = {o.name: (o.data_type, list(o.dims)) for o in gpu.output}
    assert {o.name: (o.data_type, list(o.dims)) for o in cpu.output}.items() <= gpu_out.items()


LORA_INPUTS = {"lora_name", "lora_task_id", "lora_weights", "lora_config"}


def test_a_lora_engine_declares_the_backends_three_lora_inputs():
    # The template's (docs/upstream/lora.md 1.1): lora_task_id UINT64 [1] reshaped to a scalar,
    # lora_weights FP16 [-1, -1] and lora_config INT32 [-1, 3], both ragged; all optional. The CPU
    # engine declares the same three (and lora_name, which only it takes).
    gpu = _io(generated(lora=LoraCache(max_adapter_size=16)))
    lora = {n: spec for n, spec in gpu.items() if n in LORA_INPUTS}
    assert lora == {
        "lora_task_id": (pb.TYPE_UINT64, [1], [], True, False),
        "lora_weights": (pb.TYPE_FP16, [-1, -1], None, True, True),
        "lora_config": (pb.TYPE_INT32, [-1, 3], None, True, True),
    }
    cpu = _io(model_config.load(ROOT / "model_repository" / "engine" / "config.pbtxt"))
    assert {n: cpu[n] for n in lora if n in cpu} == {n: lora[n] for n in lora if n in cpu}


def test_every_tensor_the_ensemble_maps_exists():
    ensemble = model_config.load(ROOT / "model_repository" / "ensemble" / "config.pbtxt")
    step = next(s for s in ensemble.ensemble_scheduling.step if s.model_name == "engine")
    gpu = generated(lora=LoraCache(max_adapter_size=16))
    # the template wires lora_name too; gpu-repo unwires it (shared_models.unwire_lora)
    assert set(step.input_map) - {"lora_name"} <= {t.name for t in gpu.input}
    assert set(step.output_map) <= {t.name for t in gpu.output}


def test_tensorrt_llm_template_shapes():
    # Spot checks against tensorrt_llm/config.pbtxt of the 1.2 backend.
    io = _io(generated())
    assert io["input_ids"] == (pb.TYPE_INT32, [-1], None, False, True)
    assert io["input_lengths"] == (pb.TYPE_INT32, [1], [], False, False)
    assert io["stop_words_list"] == (pb.TYPE_INT32, [2, -1], None, True, True)
    assert io["seed"] == (pb.TYPE_UINT64, [1], [], True, False)
    assert io["streaming"] == (pb.TYPE_BOOL, [1], [], True, False)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(engine_path=""), "engine_path must name the engine directory"),
        (dict(max_batch_size=0), "max_batch_size must be a positive integer, got 0"),
        (
            dict(batch_scheduler_policy="greedy"),
            "batch_scheduler_policy must be one of max_utilization, guaranteed_no_evict, got 'greedy'",
        ),
        (
            dict(kv_cache_free_gpu_mem_fraction=1.5),
            "kv_cache_free_gpu_mem_fraction must be in (0, 1), got 1.5",
        ),
        # TensorRT-LLM's KV cache manager refuses a fraction of exactly 1.0 at load.
        (
            dict(kv_cache_free_gpu_mem_fraction=1.0),
            "kv_cache_free_gpu_mem_fraction must be in (0, 1), got 1.0",
        ),
        (
            dict(kv_cache_free_gpu_mem_fraction=None),
            "set kv_cache_free_gpu_mem_fraction or max_tokens_in_paged_kv_cache",
        ),
        (dict(max_queue_size=-1), "max_queue_size (-1)"),
    ],
)
def test_invalid_engine_models(kwargs, message):
    with pytest.raises(ValueError) as err:
        TrtllmEngineModel(**{"engine_path": "/e", **kwargs})
    assert message in str(err.value)
