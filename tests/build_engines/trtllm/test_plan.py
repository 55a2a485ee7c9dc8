"""Capacity planner numbers, checked against hand calculations.

Parameter counts (Llama layout: q,k,v,o + gate,up,down + 2 RMSNorm weights per layer, final norm,
embedding, lm_head unless tied):

Llama-2-70B (GQA 64 q / 8 kv heads, head_dim 128, untied):
  attention 8192*8192*2 (q,o) + 8192*1024*2 (k,v)   = 150,994,944
  MLP       3*8192*28672                            = 704,643,072
  norms     2*8192                                  =      16,384
  per layer                                         = 855,654,400  x80 = 68,452,352,000
  embedding + lm_head 2*32000*8192                  = 524,288,000;  final norm 8,192
  total 68,976,648,192 params  x2 B = 137,953,296,384 B ≈ 138 GB  (the "≈140 GB" figure)
  KV/token FP16: 2 * 80 layers * 8 kv heads * 128 * 2 B = 327,680 B
  TP=8 per GPU: 80*(855,638,016/8 + 16,384) = 8,557,690,880; + embedding (not TP-split) 262,144,000
                + lm_head/8 32,768,000 + final norm 8,192 = 8,852,611,072 params = 17,705,222,144 B
  KV/token/GPU: 2*80*1*128*2 = 40,960 B.  80 GiB = 85,899,345,920 B, reserve 10% = 8,589,934,592 B
  free when the backend sizes the KV cache (weights and reserve already allocated):
    85,899,345,920 - 17,705,222,144 - 8,589,934,592 = 59,604,189,184 B
  KV cache = 95 % of that = 5,662,397,972,480 // 100 = 56,623,979,724 B
  tokens = 56,623,979,724 // 40,960 = 1,382,421 -> whole 32-token blocks 1,382,400; /4096 = 337 sequences

Llama-2-7B (MHA 32/32 heads, untied): per layer 4*4096^2 + 3*4096*11008 + 2*4096 = 202,383,360;
  x32 = 6,476,267,520; + 2*32000*4096 = 262,144,000; + 4,096 = 6,738,415,616 params = 13,476,831,232 B
  KV/token FP16: 2*32*32*128*2 = 524,288 B
  free at KV sizing on 80 GiB: 85,899,345,920 - 13,476,831,232 - 8,589,934,592 = 63,832,580,096 B
  KV cache 95 %: 6,064,095,109,120 // 100 = 60,640,951,091 B
  tokens 60,640,951,091 // 524,288 = 115,663 -> 115,648; /4096 = 28 sequences
  kv_cache_free_gpu_mem_fraction 0.95: the backend applies it to memory free after the reserve is
  allocated, so the reserve is not taken off again (it used to suggest 63,832,580,096 / 72,422,514,688
  = 0.88, which subtracted the reserve twice)

SmolLM2-135M (GQA 9/3 heads, head_dim 64, tied): per layer 576*576*2 + 576*192*2 + 3*576*1536 + 2*576
  = 3,540,096; x30 = 106,202,880; + embedding 49152*576 = 28,311,552 (shared with lm_head) + 576
  = 134,515,008 params; KV/token FP16 2*30*3*64*2 = 23,040 B
  TP=3 per GPU (FP16): layers 30*(ceil(3,538,944*2/3) + 2*576*2) = 30*(2,359,296 + 2,304) = 70,848,000
  + embedding, not TP-split, 28,311,552*2 = 56,623,104 + the lm_head's own copy (TensorRT-LLM shares a
  tied table only on one GPU) split over TP 56,623,104/3 = 18,874,368 + final norm 1,152
  = 146,346,624 B (without the copy: 127,472,256)
"""

from __future__ import annotations

import json

import pytest

from build_engines.trtllm import plan as P
from build_engines.trtllm.__main__ import main
from build_engines.trtllm.checkpoint_shape import CheckpointShape

LLAMA2_70B = {
    "model_type": "llama",
    "vocab_size": 32000,
    "hidden_size": 8192,
    "intermediate_size": 28672,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
}
LLAMA2_7B = {
    "model_type": "llama",
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
}
SMOLLM2_135M = {
    "model_type": "llama",
    "vocab_size": 49152,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
}


def run(cfg, **req):
    return P.plan(CheckpointShape.from_hf_config(cfg), P.PlanRequest(**req))


def test_llama2_70b_fp16_weights_are_138_gb():
    p = run(LLAMA2_70B)
    assert p.total_params == 68_976_648_192
    assert p.weight_bytes == 137_953_296_384
    assert round(p.weight_bytes / 1e9) == 138
    assert p.kv_bytes_per_token == 327_680
    assert not p.fits and p.max_concurrent_sequences == 0  # 128 GiB of weights on one 80 GiB GPU


def test_llama2_70b_tp8():
    p = run(LLAMA2_70B, tp=8, gpu_mem_gb=80, context=4096)
    assert p.weight_bytes_per_gpu == 17_705_222_144
    assert p.kv_bytes_per_token_per_gpu == 40_960
    assert p.reserve_bytes == 8_589_934_592
    assert p.kv_cache_bytes_per_gpu == 56_623_979_724
    assert p.max_tokens_in_paged_kv_cache == 1_382_400
    assert p.max_concurrent_sequences == 337
    assert p.kv_cache_free_gpu_mem_fraction == 0.95


def test_llama2_7b_mha_untied():
    p = run(LLAMA2_7B, gpu_mem_gb=80, context=4096)
    assert p.total_params == 6_738_415_616
    assert p.weight_bytes == p.weight_bytes_per_gpu == 13_476_831_232
    assert p.kv_bytes_per_token == 524_288
    assert p.max_tokens_in_paged_kv_cache == 115_648
    assert p.max_concurrent_sequences == 28
    assert p.kv_cache_free_gpu_mem_fraction == 0.95


def test_smollm2_gqa_tied():
    p = run(SMOLLM2_135M)
    assert p.total_params == 134_515_008
    assert p.weight_bytes == 269_030_016
    assert p.kv_bytes_per_token == 23_040


def test_tied_lm_head_is_a_separate_tp_split_copy_at_tp_above_1():
    assert run(SMOLLM2_135M).weight_bytes_per_gpu == 269_030_016  # one GPU: one shared table
    p = run(SMOLLM2_135M, tp=3)
    assert p.weight_bytes_per_gpu == 146_346_624
    assert p.weight_bytes == 269_030_016  # the model's own size does not change


def test_kv_fraction_is_of_memory_free_after_the_reserve():
    # kv_cache_free_gpu_mem_fraction * (GPU - weights - reserve) is exactly what the plan counts.
    p = run(LLAMA2_7B)
    free_at_kv_sizing = p.gpu_mem_bytes - p.weight_bytes_per_gpu - p.reserve_bytes
    assert p.kv_cache_bytes_per_gpu == int(free_at_kv_sizing * p.kv_cache_free_gpu_mem_fraction)


def test_untying_adds_the_lm_head():
    tied = run(SMOLLM2_135M)
    untied = run({**SMOLLM2_135M, "tie_word_embeddings": False})
    assert untied.total_params - tied.total_params == 49152 * 576


def test_llama_config_without_tie_key_is_untied():
    assert CheckpointShape.from_hf_config(LLAMA2_7B).tied_embeddings is False


def test_int8_weight_only_halves_linear_layers_only():
    # 80 * 855,638,016 linear params at 1 B + norms 80*2*8192*2 B + embedding & lm_head (unquantized)
    # 2 * 262,144,000 params * 2 B + final norm 16,384 B
    # = 68,451,041,280 + 2,621,440 + 1,048,576,000 + 16,384 = 69,502,255,104
    assert run(LLAMA2_70B, quant="int8_wo").weight_bytes == 69_502_255_104


def test_fp8_defaults_kv_to_fp8_and_kv_dtype_override():
    assert run(LLAMA2_70B, quant="fp8").kv_bytes_per_token == 163_840
    assert run(LLAMA2_70B, kv_dtype="int8").kv_bytes_per_token == 163_840


def test_pipeline_parallel_puts_half_the_layers_per_gpu():
    p = run(LLAMA2_70B, pp=2)
    # 40 layers * (855,638,016 + 16,384) params * 2 B, + the heavier end stage: the last one, with
    # lm_head 524,288,000 B + final norm 16,384 B (the first holds the 524,288,000 B embedding)
    assert p.weight_bytes_per_gpu == 40 * 855_654_400 * 2 + 524_288_000 + 16_384
    assert p.kv_bytes_per_token_per_gpu == 327_680 // 2


def test_cli_json_has_the_required_keys(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA2_70B))
    assert (
        main(
            [
                "plan",
                "--config",
                str(config),
                "--dtype",
                "float16",
                "--tp",
                "8",
                "--gpu-mem-gb",
                "80",
                "--context",
                "4096",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["weight_bytes"] == 137_953_296_384
    assert data["kv_bytes_per_token"] == 327_680
    assert data["max_concurrent_sequences"] == 337
    assert any("reserve" in note for note in data["notes"])


def test_cli_text_output(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA2_7B))
    assert main(["plan", "--config", str(tmp_path), "--gpu-mem-gb", "80"]) == 0
    out = capsys.readouterr().out
    assert "max concurrent sequences at 4096 tokens: 28" in out
    assert "kv_cache_free_gpu_mem_fraction=0.95" in out


# -- gathered logits (plan.logits_bytes) ---------------------------------------------------------------
# Llama-2-7B, vocab 32,000, logits FP32 (4 B), max_batch_size 64, beam 1, max_num_tokens 8192:
#   generation: (8 steps * 64 sequences + 1 beam * 8 steps transposed) * 32,000 * 4 = 66,560,000 B,
#     one RuntimeBuffers without PP; allocated before the KV cache is sized, so off its base
#   context: (8192 prompt tokens + 64 sequences) * 32,000 * 4 = 1,056,768,000 B, allocated during a step,
#     after: the KV share of the free memory must leave it room
#   24 GiB GPU (25,769,803,776 B, reserve 10 % = 2,576,980,377 B), gather all:
#     free at sizing 25,769,803,776 - 13,476,831,232 - 2,576,980,377 - 66,560,000 = 9,649,432,167 B
#     KV share floor((9,649,432,167 - 1,056,768,000) * 100 / 9,649,432,167) = 89 % (not 95 %)
#     KV cache 9,649,432,167 * 89 // 100 = 8,587,994,628 B
#       -> 8,587,994,628 // 524,288 = 16,380 -> 16,352 tokens
def test_generation_logits_are_taken_off_before_the_kv_cache_is_sized():
    p = run(LLAMA2_7B, gpu_mem_gb=80, gather_logits="generation")
    assert (p.generation_logits_bytes_per_gpu, p.context_logits_bytes_per_gpu) == (66_560_000, 0)
    # 95 % of (63,832,580,096 - 66,560,000) = 60,577,719,091 B: 16,128 fewer tokens than without (115,648)
    assert p.kv_cache_bytes_per_gpu == 60_577_719_091 and p.max_tokens_in_paged_kv_cache == 115_520
    assert p.kv_cache_free_gpu_mem_fraction == 0.95


def test_context_logits_lower_the_kv_share_when_the_rest_cannot_hold_them():
    p = run(LLAMA2_7B, gpu_mem_gb=24, gather_logits="all")
    assert (p.generation_logits_bytes_per_gpu, p.context_logits_bytes_per_gpu) == (66_560_000, 1_056_768_000)
    assert p.kv_cache_free_gpu_mem_fraction == 0.89
    assert p.kv_cache_bytes_per_gpu == 8_587_994_628 and p.max_tokens_in_paged_kv_cache == 16_352
    free = 9_649_432_167
    assert p.kv_cache_bytes_per_gpu + p.context_logits_bytes_per_gpu <= free  # the step's buffer still fits


def test_context_logits_that_fit_in_the_last_5_percent_keep_the_share():
    # 80 GiB: 1,056,768,000 B is under 5 % of ~63.8 GB, so 0.95 stands
    assert run(LLAMA2_7B, gpu_mem_gb=80, gather_logits="context").kv_cache_free_gpu_mem_fraction == 0.95


def test_no_logits_no_change():
    base = run(LLAMA2_7B, gpu_mem_gb=24)
    assert (base.generation_logits_bytes_per_gpu, base.context_logits_bytes_per_gpu) == (0, 0)
    assert base.kv_cache_bytes_per_gpu == 9_715_992_167 * 95 // 100


def test_logits_scale_with_the_engine_limits_dtype_pp_and_padded_vocab():
    cfg = {**LLAMA2_7B, "vocab_size": 32_001}  # padded to 32,002 at TP*PP = 2, 32,004 at 4
    p = run(cfg, tp=2, gather_logits="all", max_batch_size=8, max_num_tokens=1024, logits_dtype="float16")
    assert p.generation_logits_bytes_per_gpu == (8 * 8 + 8) * 32_002 * 2
    assert p.context_logits_bytes_per_gpu == (1024 + 8) * 32_002 * 2
    # one RuntimeBuffers per micro batch, and PP=2 runs two micro batches
    assert (
        run(cfg, tp=1, pp=2, gather_logits="generation", max_batch_size=8).generation_logits_bytes_per_gpu
        == 2 * (8 * 8 + 8) * 32_002 * 4
    )


def test_cli_plan_counts_gathered_logits(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA2_7B))
    assert (
        main(["plan", "--config", str(tmp_path), "--gpu-mem-gb", "24", "--gather-logits", "all", "--json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (data["generation_logits_bytes_per_gpu"], data["context_logits_bytes_per_gpu"]) == (
        66_560_000,
        1_056_768_000,
    )
    assert data["kv_cache_free_gpu_mem_fraction"] == 0.89
    assert main(["plan", "--config", str(tmp_path), "--gpu-mem-gb", "24", "--gather-logits", "context"]) == 0
    assert (
        "logits buffers per GPU:   generation 0.00 GiB, context 0.98 GiB (gather_logits=context)"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "req,message",
    [
        (
            dict(gather_logits="both"),
            "gather_logits must be one of none, generation, context, all, got 'both'",
        ),
        (dict(logits_dtype="bfloat16"), "logits_dtype must be float16 or float32, got 'bfloat16'"),
        (dict(max_num_tokens=0), "max_num_tokens must be positive, got 0"),
        (dict(quant="int3"), "quant must be one of"),
        (dict(tp=0), "tp must be positive, got 0"),
        (dict(kv_dtype="int4"), "kv_dtype must be one of"),
    ],
)
def test_bad_requests(req, message):
    with pytest.raises(ValueError, match=message):
        P.PlanRequest(**req)


def test_heads_not_divisible_by_kv_heads():
    with pytest.raises(
        ValueError, match=r"num_attention_heads \(9\) is not a multiple of num_key_value_heads \(4\)"
    ):
        CheckpointShape.from_hf_config({**SMOLLM2_135M, "num_key_value_heads": 4})
