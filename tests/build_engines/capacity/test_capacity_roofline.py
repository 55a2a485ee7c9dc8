"""The stated roofline: FLOP counts, the concurrency caps and the shape of the curve (roofline.py)."""

import pytest

from build_engines.capacity import roofline
from build_engines.capacity.calibration import CONFIGS
from build_engines.capacity.gpus import gpu
from build_engines.capacity.memory import figures, load_shape, precision

LLAMA_8B = CONFIGS / "llama-3.1-8b.json"
ONE = roofline.Efficiency(memory=1.0, compute=1.0)


def make(prec="fp8", gpu_name="H100", isl=128, osl=128, tp=1, pp=1):
    shape = load_shape(LLAMA_8B)
    spec = gpu(gpu_name)
    p = precision(prec)
    mem = figures(shape, p, spec, tp=tp, pp=pp, context=isl + osl)
    layout = roofline.Layout(precision=p, tp=tp, pp=pp)
    return shape, spec, mem, layout, roofline.Workload(isl=isl, osl=osl)


def test_llama_8b_flops_per_token():
    shape = load_shape(LLAMA_8B)
    # Per layer: q,k,v,o = 4096·(4096 + 2·1024) + 4096·4096 = 41,943,040; gate/up/down = 3·4096·14336 =
    # 176,160,768. 32 layers + the untied LM head 128256·4096 = 7,504,658,432 weights, 2 FLOPs each.
    assert roofline.linear_flops_per_token(shape) == 15_009_316_864
    # 4 FLOPs (QK^T and softmax·V multiply-adds) × 32 layers × 32 heads × 128 dims per context token.
    assert roofline.attention_flops_per_context_token(shape) == 524_288


def test_one_sequence_is_bound_by_reading_the_weights():
    shape, spec, mem, layout, work = make()
    p = roofline.point(shape=shape, mem=mem, gpu=spec, layout=layout, work=work, eff=ONE, concurrency=1)
    # One token per step: the step reads all 9,081,200,640 weight bytes (the memory planner's FP8 figure)
    # and 192 mean-context tokens of 65,536 KV bytes at 3.35 TB/s; its FLOPs take microseconds.
    assert mem.weight_bytes_per_gpu == 9_081_200_640
    memory_time = (9_081_200_640 + 65_536 * 192) / 3.35e12
    attention = (524_288 * 192 + 524_288 * 128 * 64 / 128) / 1978.9e12
    assert p.bound == "memory"
    assert p.tpot_s == pytest.approx(memory_time + attention, rel=1e-12)
    assert p.output_tok_s == pytest.approx(1 / p.tpot_s, rel=1e-12)


def test_past_the_compute_roof_throughput_stops_growing():
    shape, spec, mem, layout, work = make()
    curve = roofline.curve(shape=shape, mem=mem, gpu=spec, layout=layout, work=work, eff=ONE)
    by_c = {p.concurrency: p for p in curve}
    # At 1024 and 2048 sequences the GEMMs (2048 and 4096 tokens a step) outlast the weight read, and the
    # KV read grows with the batch too: twice the sequences, twice the step, the same tokens/s.
    assert by_c[1024].bound == by_c[2048].bound == "compute"
    assert by_c[2048].tpot_s == pytest.approx(2 * by_c[1024].tpot_s, rel=1e-12)
    # So max load is the least concurrency on the plateau, not its slowest end.
    assert roofline.max_load(curve).concurrency <= 1024
    assert roofline.knee(curve).concurrency <= roofline.max_load(curve).concurrency


def test_concurrency_caps():
    # 128/128 on an H100: the KV cache holds 3,863 whole 256-token sequences, so max_batch_size (2048) caps.
    shape, spec, mem, layout, work = make()
    assert mem.max_sequences == 3863
    assert roofline.concurrency_cap(mem, work, layout) == 2048
    # 2048/128 on an H200: each step carries 16 prompt tokens per decoding sequence, so max_num_tokens
    # allows 8192·128 // 2176 = 481 sequences, fewer than the 847 its KV cache holds.
    shape, spec, mem, layout, work = make(gpu_name="H200", isl=2048, osl=128)
    assert mem.max_sequences == 847
    assert roofline.concurrency_cap(mem, work, layout) == 481
    # The same on an H100: 989,024 KV tokens hold 454 sequences of 2176 tokens, below 481.
    shape, spec, mem, layout, work = make(gpu_name="H100", isl=2048, osl=128)
    assert roofline.concurrency_cap(mem, work, layout) == 454 == 989_024 // 2176
    assert roofline.sweep_concurrencies(481)[-2:] == [256, 481]


def test_tensor_parallel_pays_for_its_all_reduces():
    shape, spec, mem1, lay1, work = make(tp=1)
    _, _, mem2, lay2, _ = make(tp=2)
    one = roofline.point(shape=shape, mem=mem1, gpu=spec, layout=lay1, work=work, eff=ONE, concurrency=1)
    two = roofline.point(shape=shape, mem=mem2, gpu=spec, layout=lay2, work=work, eff=ONE, concurrency=1)
    # Half the weights per GPU, plus 2 all-reduces × 32 layers × 10 us: faster, but not twice as fast.
    assert one.tpot_s / 2 < two.tpot_s < one.tpot_s
    assert two.tpot_s - 64 * roofline.ALLREDUCE_LATENCY_S > one.tpot_s / 2 * 0.99


def test_fp8_needs_a_gpu_with_fp8_tensor_cores():
    shape, spec, mem, layout, work = make(gpu_name="A100", prec="fp16")
    with pytest.raises(ValueError, match="A100 SXM4 80GB has no fp8 tensor-core path"):
        gpu("A100").peak("fp8")
    # fp16 on the A100 runs: 312 TFLOPs dense is the peak it uses.
    assert spec.peak(layout.precision.compute) == 312e12


def test_efficiency_out_of_range_is_refused():
    with pytest.raises(ValueError, match="efficiency.memory must be in"):
        roofline.Efficiency(memory=1.2, compute=0.5)
