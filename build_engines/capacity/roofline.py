"""The stated model: throughput and latency of one replica over concurrency, from bytes, FLOPs and peaks.

One engine iteration (in-flight batching, steady state, every request ISL prompt + OSL output tokens) on
one GPU of a TP×PP replica, with b = concurrency / PP sequences in its micro-batch, n = b·(1 + ISL/OSL)
tokens in it (b decode tokens, and the prompts of the b/OSL requests that start each iteration):

    gemm     = max( W / (BW·e_mem),  n·F / (peak·e_comp) )     # weights read once for all n tokens
    kv       = b·kv·(ISL + OSL/2) / (BW·e_mem)                  # decode attention reads every context
    attn     = (b·A·(ISL + OSL/2) + (b/OSL)·ISL·A·ISL/2) / (peak·e_comp)
    comm     = 2·layers·(α + 2·(TP-1)/TP · n·hidden·2 B / link)  # two all-reduces a layer, TP > 1
    step     = gemm + kv + attn + comm
    TPOT     = PP · step;   TTFT = PP · step with one whole prompt added to n
    output tokens/s per replica = concurrency / TPOT

W weights, kv KV bytes per token, F linear FLOPs per token and A attention FLOPs per token per context
token, all per GPU (memory.py gives W and kv from the memory planner). e_mem and e_comp are fitted on
published measurements (calibration.py). Concurrency is capped by the KV cache (whole ISL+OSL sequences,
as TensorRT-LLM's default GUARANTEED_NO_EVICT scheduler reserves them), by max_batch_size and by
max_num_tokens per iteration. "Max load" is the least concurrency within 0.1 % of the highest throughput
on that capped curve (past the compute roof the curve is flat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..trtllm.checkpoint_shape import CheckpointShape
from .gpus import GpuSpec
from .memory import MemoryFigures, Precision

# The LLM API's defaults (BaseLlmArgs.max_batch_size = 2048, max_num_tokens = 8192 in NVIDIA/TensorRT-LLM
# tensorrt_llm/llmapi/llm_args.py); trtllm-bench may tune its own per run, which this does not model.
MAX_BATCH_SIZE = 2048
MAX_NUM_TOKENS = 8192  # tokens (prompt + decode) one iteration may carry
ALLREDUCE_LATENCY_S = 10e-6  # fixed cost of one small all-reduce (NCCL/custom kernel), an assumption
KNEE_SHARE = 0.9  # the knee: the least concurrency reaching this share of max-load throughput
# Past the compute roofline the curve is flat: max load is the least concurrency within this share of the
# best throughput, so a plateau is not reported at its far (slowest-latency) end.
PLATEAU_SHARE = 0.999


@dataclass(frozen=True)
class Efficiency:
    memory: float  # share of data-sheet bandwidth an iteration achieves
    compute: float  # share of dense tensor-core peak

    def __post_init__(self) -> None:
        for name in ("memory", "compute"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"efficiency.{name} must be in (0, 1], got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class Workload:
    isl: int
    osl: int

    def __post_init__(self) -> None:
        if self.isl < 1 or self.osl < 1:
            raise ValueError(f"ISL and OSL must be positive, got {self.isl}/{self.osl}")


@dataclass(frozen=True, kw_only=True)
class Layout:
    precision: Precision
    tp: int
    pp: int

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    def label(self) -> str:
        return f"{self.precision.name} TP{self.tp} PP{self.pp}"


@dataclass(frozen=True, kw_only=True)
class Point:
    concurrency: int
    ttft_s: float
    tpot_s: float
    output_tok_s: float  # whole replica
    output_tok_s_per_gpu: float
    requests_s: float
    bound: str  # "memory" or "compute": which side of the decode roofline the iteration sits on


def linear_flops_per_token(shape: CheckpointShape) -> int:
    """2 FLOPs per multiply-add of every linear layer and the LM head (the embedding is a lookup)."""
    per_layer = shape.attention_params() + shape.mlp_params()
    return 2 * (shape.num_layers * per_layer + shape.vocab_size * shape.hidden_size)


def attention_flops_per_context_token(shape: CheckpointShape) -> int:
    """QK^T and softmax·V: 2 × 2 FLOPs per head dimension per context token, every layer."""
    return 4 * shape.num_layers * shape.num_heads * shape.head_dim


def concurrency_cap(mem: MemoryFigures, work: Workload, layout: Layout) -> int:
    by_tokens = MAX_NUM_TOKENS * work.osl // (work.osl + work.isl)  # b·(1 + ISL/OSL) ≤ max_num_tokens
    return max(0, min(mem.max_sequences, MAX_BATCH_SIZE, by_tokens * layout.pp))


def point(
    *,
    shape: CheckpointShape,
    mem: MemoryFigures,
    gpu: GpuSpec,
    layout: Layout,
    work: Workload,
    eff: Efficiency,
    concurrency: int,
) -> Point:
    gpus = layout.gpus
    b = concurrency / layout.pp
    flops = linear_flops_per_token(shape) / gpus
    attn = attention_flops_per_context_token(shape) / gpus
    peak = gpu.peak(layout.precision.compute) * eff.compute
    bandwidth = gpu.bandwidth_bytes_s * eff.memory
    mean_context = work.isl + work.osl / 2
    t_weights = mem.weight_bytes_per_gpu / bandwidth
    t_kv = b * mem.kv_bytes_per_token_per_gpu * mean_context / bandwidth
    prompt_attn = work.isl * attn * work.isl / 2
    t_attn = (b * attn * mean_context + (b / work.osl) * prompt_attn) / peak
    tokens = b * (1 + work.isl / work.osl)

    def step(n: float, extra_attn: float) -> float:
        gemm = max(t_weights, n * flops / peak)
        return gemm + t_kv + t_attn + extra_attn + _allreduce_time(shape, gpu, layout, n)

    tpot = layout.pp * step(tokens, 0.0)
    ttft = layout.pp * step(tokens + work.isl, prompt_attn / peak)
    out = concurrency / tpot
    return Point(
        concurrency=concurrency,
        ttft_s=ttft,
        tpot_s=tpot,
        output_tok_s=out,
        output_tok_s_per_gpu=out / gpus,
        requests_s=concurrency / (ttft + (work.osl - 1) * tpot),
        bound="memory" if t_weights + t_kv >= tokens * flops / peak else "compute",
    )


def _allreduce_time(shape: CheckpointShape, gpu: GpuSpec, layout: Layout, tokens: float) -> float:
    if layout.tp == 1:
        return 0.0
    layers = math.ceil(shape.num_layers / layout.pp)
    ring_bytes = 2 * (layout.tp - 1) / layout.tp * tokens * shape.hidden_size * 2  # 16-bit activations
    return 2 * layers * (ALLREDUCE_LATENCY_S + ring_bytes / gpu.link_bytes_s)


def sweep_concurrencies(cap: int) -> list[int]:
    """Powers of two up to the cap, and the cap itself (where max load usually sits)."""
    levels = [c for c in (2**i for i in range(16)) if c < cap]
    return [*levels, cap] if cap > 0 else []


def curve(
    *,
    shape: CheckpointShape,
    mem: MemoryFigures,
    gpu: GpuSpec,
    layout: Layout,
    work: Workload,
    eff: Efficiency,
) -> list[Point]:
    cap = concurrency_cap(mem, work, layout)
    return [
        point(shape=shape, mem=mem, gpu=gpu, layout=layout, work=work, eff=eff, concurrency=c)
        for c in sweep_concurrencies(cap)
    ]


def max_load(points: list[Point]) -> Point:
    if not points:
        raise ValueError("empty curve: not even one sequence fits in the KV cache")
    best = max(p.output_tok_s for p in points)
    return next(p for p in points if p.output_tok_s >= PLATEAU_SHARE * best)


def knee(points: list[Point]) -> Point:
    best = max_load(points).output_tok_s
    return next(p for p in points if p.output_tok_s >= KNEE_SHARE * best)
