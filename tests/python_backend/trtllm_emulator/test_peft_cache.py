"""The emulator's PEFT cache (python_backend/trtllm_emulator/peft_cache.py) over a real CPU engine on the
LoRA export, with the real test adapters in TensorRT-LLM's form: stored on first sight, ignored while
cached, least recently done evicted, the backend's messages word for word
(python_backend/contract/trtllm_backend/lora.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from build_engines.lora.adapters import make_test_adapters
from build_engines.lora.export import export_lora
from python_backend.contract.trtllm_backend import lora as bl
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.lora_weights import LoraSpec
from python_backend.triton_io.trtllm_lora import peft_to_trtllm
from python_backend.trtllm_emulator.peft_cache import LoraEngine, LoraRequestError, PeftCache
from python_backend.trtllm_emulator.settings import BackendLoadError, load_settings

ALL = ("attn_q", "attn_k", "attn_v", "attn_dense", "mlp_h_to_4h", "mlp_4h_to_h", "mlp_gate")
# Sizes at 2 bytes a value, r·(in+out) per row, 30 layers (the bundled model): test-lora-a is rank 8
# over all 7 modules (in+out summed: 10176 a layer), test-lora-b rank 4 over q/v/up/down (6144).
A_BYTES = 8 * 10176 * 30 * 2
B_BYTES = 4 * 6144 * 30 * 2


@pytest.fixture(scope="module")
def lora_dir(checkpoint_dir, onnx_fp32):
    return export_lora(checkpoint_dir, onnx_fp32)


@pytest.fixture(scope="module")
def engine(lora_dir):
    return LLMEngine(EngineConfig(max_num_seqs=2, max_seq_len=64, max_loras=2, max_lora_rank=8), lora_dir)


@pytest.fixture(scope="module")
def loras(checkpoint_dir, tmp_path_factory):
    paths = make_test_adapters(checkpoint_dir, tmp_path_factory.mktemp("adapters"))
    return {path.name[-1]: peft_to_trtllm(path) for path in paths}  # "a", "b"


def cache(engine, host_bytes, modules=ALL, max_rank=8):
    lora = LoraEngine(
        max_lora_rank=max_rank, target_modules=modules, host_cache_bytes=host_bytes, max_adapter_size=8
    )
    return PeftCache(lora, engine.runner.adapters.spec, engine)


def send(cache, task, lora=None):
    """begin() with the tensors as a request carries them (batch dimension 1)."""
    if lora is None:
        return cache.begin(task, None, None)
    return cache.begin(task, lora.weights[None], lora.config[None])


def test_first_sight_stores_later_ids_alone_run_and_an_evicted_id_misses(engine, loras):
    peft = cache(engine, A_BYTES + B_BYTES - 1)  # a and b never fit together
    assert send(peft, 101, loras["a"]) == "task-101"
    peft.done(101)
    assert send(peft, 101) == "task-101"  # cached: the id alone
    peft.done(101)
    assert send(peft, 102, loras["b"]) == "task-102"  # a was done: evicted for b
    assert peft.cached() == [102] and "task-101" not in engine.lora_info()["loaded"]
    with pytest.raises(LoraRequestError) as miss:
        send(peft, 101)
    assert str(miss.value) == "LoRA task 101 not found in cache. Please send LoRA weights with request"
    # 102 is still in flight: nothing to evict for a, so the cache is full.
    with pytest.raises(LoraRequestError, match=r"^PEFT Cache is full. Could not store taskId=101$"):
        send(peft, 101, loras["a"])
    peft.done(102)
    assert send(peft, 101, loras["a"]) == "task-101"  # resent weights: stored again
    peft.done(101)
    assert peft.evictions == 2


def test_weights_sent_again_for_a_cached_id_are_ignored(engine, loras):
    peft = cache(engine, 4 * B_BYTES)
    send(peft, 201, loras["b"])
    peft.done(201)
    # The backend keeps the first weights (LoraCache::put returns early): a's larger rows are not
    # stored, so they take no room and evict nothing.
    send(peft, 201, loras["a"])
    peft.done(201)
    assert peft.cached() == [201] and peft.evictions == 0
    assert peft._bytes[201] == B_BYTES


def test_the_least_recently_done_task_is_evicted_first(engine, loras):
    peft = cache(engine, 2 * B_BYTES)
    for task in (301, 302):
        send(peft, task, loras["b"])
    peft.done(302)
    peft.done(301)  # 301 finished last: 302 is the least recently done
    send(peft, 303, loras["b"])
    assert peft.cached() == [301, 303]


def test_a_rank_above_max_lora_rank_and_a_module_not_built_in_are_refused(engine, loras):
    with pytest.raises(LoraRequestError) as rank:
        send(cache(engine, 4 * A_BYTES, max_rank=4), 401, loras["a"])
    assert str(rank.value) == "Invalid low_rank (8). low_rank must be smaller than mMaxLowRank (4)"
    # test-lora-b targets down_proj (mlp_4h_to_h) and up_proj (mlp_gate); an attention-only engine:
    attention = ("attn_q", "attn_k", "attn_v", "attn_dense")
    with pytest.raises(LoraRequestError) as module:
        send(cache(engine, 4 * A_BYTES, modules=attention), 402, loras["b"])
    assert str(module.value) in {
        bl.MODULE_NOT_ENABLED.format(module=name) for name in ("mlp_4h_to_h", "mlp_gate")
    }
    with pytest.raises(LoraRequestError, match="must have both lora_weights and lora_keys"):
        cache(engine, 4 * A_BYTES).begin(403, loras["b"].weights[None], None)


def test_a_host_cache_below_one_max_sized_adapter_fails_the_load(lora_dir, tmp_path):
    spec = LoraSpec.read(lora_dir)
    (tmp_path / "lora.json").write_text((lora_dir / "lora.json").read_text())
    build = {
        "max_batch_size": 4,
        "max_input_len": 64,
        "max_seq_len": 128,
        "max_num_tokens": 256,
        "plugin_config": {"tokens_per_block": 16, "lora_plugin": "float16"},
        "lora_config": {"max_lora_rank": 8, "lora_target_modules": list(ALL)},
    }
    (tmp_path / "config.json").write_text(json.dumps({"build_config": build}))
    params = {
        "gpt_model_type": "inflight_fused_batching",
        "tokenizer_dir": "",
        "xgrammar_tokenizer_info_path": "",
        "guided_decoding_backend": "",
        "gpt_model_path": str(tmp_path),
        "lora_cache_host_memory_bytes": str(A_BYTES),
    }
    settings = load_settings(params)
    # lora_cache_max_adapter_size (default 64) is clamped to the engine's max_lora_rank 8.
    assert settings.lora.max_adapter_size == 8 and settings.engine.max_lora_rank == 8
    assert settings.lora.max_adapter_bytes(spec) == A_BYTES
    with pytest.raises(BackendLoadError) as failure:
        load_settings({**params, "lora_cache_host_memory_bytes": str(A_BYTES - 1)})
    assert str(failure.value) == (
        "unexpected error when creating modelInstanceState: "
        "Not enough space allocated to host LoRA cache to hold 1 max sized LoRA"
    )
    assert np.isclose(bl.DEFAULT_DEVICE_CACHE_FRACTION, 0.05)


def test_prefetch_puts_digit_named_tasks_in_the_cache_and_skips_the_rest(engine, loras, tmp_path, caplog):
    # lora_prefetch_dir's layout (tensorrtllm_backend docs/lora.md): <task id>/model.lora_weights.npy and
    # model.lora_config.npy as the converter saves them, with their batch dimension.
    for name, lora in (("501", loras["b"]), ("not-a-task", loras["b"])):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "model.lora_weights.npy", lora.weights[None])
        np.save(tmp_path / name / "model.lora_config.npy", lora.config[None])
    peft = cache(engine, 4 * B_BYTES)
    with caplog.at_level("WARNING"):
        assert peft.prefetch(tmp_path) == [501]
    assert "lora task name not-a-task is invalid, skipping" in caplog.text
    assert send(peft, 501) == "task-501"  # the id alone: prefetched
    peft.done(501)
    assert peft.prefetch(tmp_path / "absent") == []
