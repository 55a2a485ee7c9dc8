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
  KV cache = 85,899,345,920 - 17,705,222,144 - 8,589,934,592 = 59,604,189,184 B
  tokens = 59,604,189,184 // 40,960 = 1,455,180 -> whole 32-token blocks 1,455,168; /4096 = 355 sequences

Llama-2-7B (MHA 32/32 heads, untied): per layer 4*4096^2 + 3*4096*11008 + 2*4096 = 202,383,360;
  x32 = 6,476,267,520; + 2*32000*4096 = 262,144,000; + 4,096 = 6,738,415,616 params = 13,476,831,232 B
  KV/token FP16: 2*32*32*128*2 = 524,288 B
  KV cache on 80 GiB: 85,899,345,920 - 13,476,831,232 - 8,589,934,592 = 63,832,580,096 B
  tokens 63,832,580,096 // 524,288 = 121,750 -> 121,728; /4096 = 29 sequences
  fraction of post-load free memory: 63,832,580,096 / 72,422,514,688 = 0.881 -> 0.88

SmolLM2-135M (GQA 9/3 heads, head_dim 64, tied): per layer 576*576*2 + 576*192*2 + 3*576*1536 + 2*576
  = 3,540,096; x30 = 106,202,880; + embedding 49152*576 = 28,311,552 (shared with lm_head) + 576
  = 134,515,008 params; KV/token FP16 2*30*3*64*2 = 23,040 B
"""

from __future__ import annotations

import json

import pytest

from build_engines.trtllm import plan as P
from build_engines.trtllm.__main__ import main

LLAMA2_70B = {"model_type": "llama", "vocab_size": 32000, "hidden_size": 8192, "intermediate_size": 28672,
              "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8, "hidden_act": "silu",
              "rms_norm_eps": 1e-5, "tie_word_embeddings": False}
LLAMA2_7B = {"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
             "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu",
             "rms_norm_eps": 1e-5}
SMOLLM2_135M = {"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
                "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "hidden_act": "silu",
                "rms_norm_eps": 1e-5, "tie_word_embeddings": True}


def run(cfg, **req):
    return P.plan(P.ModelShape.from_hf_config(cfg), P.PlanRequest(**req))


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
    assert p.kv_cache_bytes_per_gpu == 59_604_189_184
    assert p.max_tokens_in_paged_kv_cache == 1_455_168
    assert p.max_concurrent_sequences == 355


def test_llama2_7b_mha_untied():
    p = run(LLAMA2_7B, gpu_mem_gb=80, context=4096)
    assert p.total_params == 6_738_415_616
    assert p.weight_bytes == p.weight_bytes_per_gpu == 13_476_831_232
    assert p.kv_bytes_per_token == 524_288
    assert p.max_tokens_in_paged_kv_cache == 121_728
    assert p.max_concurrent_sequences == 29
    assert p.kv_cache_free_gpu_mem_fraction == 0.88


def test_smollm2_gqa_tied():
    p = run(SMOLLM2_135M)
    assert p.total_params == 134_515_008
    assert p.weight_bytes == 269_030_016
    assert p.kv_bytes_per_token == 23_040


def test_untying_adds_the_lm_head():
    tied = run(SMOLLM2_135M)
    untied = run({**SMOLLM2_135M, "tie_word_embeddings": False})
    assert untied.total_params - tied.total_params == 49152 * 576


def test_llama_config_without_tie_key_is_untied():
    assert P.ModelShape.from_hf_config(LLAMA2_7B).tied_embeddings is False


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
    assert main(["plan", "--config", str(config), "--dtype", "float16", "--tp", "8", "--gpu-mem-gb", "80",
                 "--context", "4096", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["weight_bytes"] == 137_953_296_384
    assert data["kv_bytes_per_token"] == 327_680
    assert data["max_concurrent_sequences"] == 355
    assert any("reserve" in note for note in data["notes"])


def test_cli_text_output(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA2_7B))
    assert main(["plan", "--config", str(tmp_path), "--gpu-mem-gb", "80"]) == 0
    out = capsys.readouterr().out
    assert "max concurrent sequences at 4096 tokens: 29" in out
    assert "kv_cache_free_gpu_mem_fraction=0.88" in out


@pytest.mark.parametrize("req,message", [
    (dict(quant="int3"), "quant must be one of"),
    (dict(tp=0), "tp must be positive, got 0"),
    (dict(kv_dtype="int4"), "kv_dtype must be one of"),
])
def test_bad_requests(req, message):
    with pytest.raises(ValueError, match=message):
        P.PlanRequest(**req)


def test_heads_not_divisible_by_kv_heads():
    with pytest.raises(ValueError, match=r"num_attention_heads \(9\) is not a multiple of num_key_value_heads \(4\)"):
        P.ModelShape.from_hf_config({**SMOLLM2_135M, "num_key_value_heads": 4})
