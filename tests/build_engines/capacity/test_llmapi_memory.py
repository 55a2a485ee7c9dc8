"""The LLM API's KV budget: KvCacheConfig takes min(max_tokens, free_gpu_memory_fraction × the memory free
after the weights), in whole blocks (its field description, docs/upstream/trtllm-llm-api.md c)."""

from __future__ import annotations

import json

import pytest

from build_engines.__main__ import main
from build_engines.capacity.gpus import gpu
from build_engines.capacity.llmapi_memory import describe, kv_budget
from build_engines.capacity.memory import figures, load_shape, precision
from build_engines.trtllm.plan import GIB

LLAMA_8B = "build_engines/capacity/configs/llama-3.1-8b.json"


@pytest.fixture(scope="module")
def shape():
    return load_shape(LLAMA_8B)


def test_the_fraction_is_of_the_memory_left_after_the_weights_and_the_reserve(shape):
    h100 = gpu("H100")
    budget = kv_budget(shape, precision("fp8"), h100, context=4096, free_gpu_memory_fraction=0.5)
    mem = figures(shape, precision("fp8"), h100, tp=1, pp=1, context=4096)
    # 80 GiB, the planner's 8B FP8 weights, and its reserve max(2 GiB, 10 %) = 8 GiB.
    assert budget.reserve_bytes == 8 * GIB and budget.weight_bytes_per_gpu == mem.weight_bytes_per_gpu
    assert budget.free_after_weights == 80 * GIB - mem.weight_bytes_per_gpu - 8 * GIB
    by_fraction = budget.free_after_weights // 2 // mem.kv_bytes_per_token_per_gpu
    assert (
        budget.kv_tokens == by_fraction // 32 * 32
    )  # whole 32-token blocks (KvCacheConfig.tokens_per_block)
    assert budget.limited_by == "free_gpu_memory_fraction"
    assert budget.max_sequences == budget.kv_tokens // 4096


def test_max_tokens_caps_it_when_smaller(shape):
    budget = kv_budget(shape, precision("fp8"), gpu("H100"), context=4096, max_tokens=10_000)
    assert budget.kv_tokens == 9984 and budget.limited_by == "max_tokens"  # 312 blocks of 32
    assert budget.max_sequences == 2
    big = kv_budget(shape, precision("fp8"), gpu("H100"), context=4096, max_tokens=10**9)
    assert big.limited_by == "free_gpu_memory_fraction" and big.kv_tokens < 10**9


def test_more_fraction_more_tokens_none_with_zero(shape):
    tokens = [
        kv_budget(shape, precision("bf16"), gpu("H100"), context=2048, free_gpu_memory_fraction=f).kv_tokens
        for f in (0.0, 0.3, 0.6, 0.9)
    ]
    assert tokens[0] == 0 and tokens == sorted(tokens) and len(set(tokens)) == 4
    assert not kv_budget(shape, precision("bf16"), gpu("H100"), context=2048, free_gpu_memory_fraction=0).fits


def test_a_fraction_out_of_range_is_refused_as_upstream_words_it(shape):
    with pytest.raises(ValueError, match="free_gpu_memory_fraction must be a float between 0 and 1"):
        kv_budget(shape, precision("fp8"), gpu("H100"), context=128, free_gpu_memory_fraction=1.2)


def test_the_description_says_what_set_the_size(shape):
    lines = describe(kv_budget(shape, precision("fp8"), gpu("H100"), context=4096, max_tokens=10_000))
    assert lines[1].startswith(
        "KV cache (kv_cache_config: free_gpu_memory_fraction 0.9, max_tokens 10,000): 9,984"
    )
    assert "set by max_tokens" in lines[1]


def test_make_plan_for_the_pytorch_engine_reports_the_budget(tmp_path, capsys):
    argv = ["capacity", "--checkpoint", LLAMA_8B, "--engine", "pytorch", "--precision", "fp8", "--no-aic"]
    assert main([*argv, "--kv-fraction", "0.5", "--output", str(tmp_path)]) == 0
    assert "KV cache (kv_cache_config: free_gpu_memory_fraction 0.5)" in capsys.readouterr().out
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["llm_api_kv_cache"]["free_gpu_memory_fraction"] == 0.5
    assert doc["llm_api_kv_cache"]["context"] == 256  # --isl 128 + --osl 128
