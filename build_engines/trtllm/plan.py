"""`plan`: how much of a GPU the weights take and how many sequences the rest of it can hold.

Counts parameters from the HF config.json (no weights needed), places them on the worst-loaded
rank of a TP×PP layout the way TensorRT-LLM shards a Llama-style model, and sizes the paged KV
cache. Bytes are exact integer products; "GB" in output is 10^9 bytes, GPU memory is taken in GiB
(an "80 GB" H100/A100 has 80 GiB).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from python_backend.contract.perf_metrics import TOKENS_PER_BLOCK

from .checkpoint_shape import CheckpointShape
from .lora import LoraBuild, adapter_bytes_per_gpu
from .recipes import GATHER_LOGITS, gathers

GIB = 1 << 30
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1, "int8": 1}
# Bytes per weight of quantized linear layers; int4_awq adds one fp16 scale per 128-weight group.
QUANT_WEIGHT_BYTES = {"int8_wo": 1.0, "int8_sq": 1.0, "fp8": 1.0, "int4_awq": 0.5 + 2 / 128}
# Kept free of the KV cache: CUDA context, TensorRT activation buffers, NCCL, decoder state.
RESERVE_FRACTION = 0.10
RESERVE_MIN_BYTES = 2 * GIB
# The KV cache's share of the memory free once all of that is allocated (see plan()). The backend
# refuses 1.0 ("freeMemFraction ... must be smaller than 1.0f": BaseKVCacheManager::calculateFreeMemBytes,
# cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp of NVIDIA/TensorRT-LLM at
# b35ac1b64368513d215c57d2ed01d62d910df8da); 5 % stays free for what is allocated later.
KV_PERCENT_OF_FREE = 95
# Steps of generation logits the runtime keeps on the GPU before copying them to the host
# (GenerationLogitsCache::kCACHE_LENGTH, cpp/include/tensorrt_llm/batch_manager/runtimeBuffers.h of
# NVIDIA/TensorRT-LLM at 95ca1eaeaf08708fb25d2906ac1bd7a795292646).
GENERATION_LOGITS_CACHE_STEPS = 8


@dataclass
class PlanRequest:
    dtype: str = "float16"
    tp: int = 1
    pp: int = 1
    gpu_mem_gb: float = 80.0
    context: int = 4096
    quant: str | None = None
    kv_dtype: str | None = None
    # Engine limits and the logits it gathers (recipes.EngineBuildConfig): they size the logits buffers.
    gather_logits: str = "none"
    max_batch_size: int = 64
    max_num_tokens: int = 8192
    max_beam_width: int = 1
    logits_dtype: str = "float32"  # trtllm-build --logits_dtype; TensorRT-LLM's default is float32
    lora: LoraBuild | None = None  # an engine with the LoRA plugin: its device cache is planned
    lora_adapters: int = 4  # adapters of the engine's max_lora_rank the device cache holds

    def __post_init__(self) -> None:
        if self.dtype not in ("float16", "bfloat16", "float32"):
            raise ValueError(f"dtype must be float16, bfloat16 or float32, got {self.dtype!r}")
        if self.quant is not None and self.quant not in QUANT_WEIGHT_BYTES:
            raise ValueError(f"quant must be one of {', '.join(QUANT_WEIGHT_BYTES)}, got {self.quant!r}")
        if self.kv_dtype is None:
            # Our fp8 recipe quantizes the KV cache too; every other recipe keeps it in dtype.
            self.kv_dtype = "fp8" if self.quant == "fp8" else self.dtype
        if self.kv_dtype not in DTYPE_BYTES:
            raise ValueError(f"kv_dtype must be one of {', '.join(DTYPE_BYTES)}, got {self.kv_dtype!r}")
        if self.gather_logits not in GATHER_LOGITS:
            raise ValueError(
                f"gather_logits must be one of {', '.join(GATHER_LOGITS)}, got {self.gather_logits!r}"
            )
        if self.logits_dtype not in ("float16", "float32"):
            raise ValueError(f"logits_dtype must be float16 or float32, got {self.logits_dtype!r}")
        for name in ("tp", "pp", "context", "max_batch_size", "max_num_tokens", "max_beam_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.gpu_mem_gb <= 0:
            raise ValueError(f"gpu_mem_gb must be positive, got {self.gpu_mem_gb}")


@dataclass(kw_only=True)
class Plan:
    total_params: int
    weight_bytes: int  # whole model, all ranks
    weight_bytes_per_gpu: int  # the most loaded rank
    kv_bytes_per_token: int  # whole model
    kv_bytes_per_token_per_gpu: int
    gpu_mem_bytes: int
    reserve_bytes: int
    kv_cache_bytes_per_gpu: int
    max_tokens_in_paged_kv_cache: int
    max_concurrent_sequences: int
    kv_cache_free_gpu_mem_fraction: float
    fits: bool
    notes: list
    # Logits buffers on the last pipeline stage's GPUs (logits_bytes): generation logits are allocated
    # before the KV cache is sized, context logits during each step that has prompts in it, after.
    generation_logits_bytes_per_gpu: int = 0
    context_logits_bytes_per_gpu: int = 0
    # The LoRA device cache (lora_device_bytes) and the lora_cache_gpu_memory_fraction that gives it.
    lora_cache_bytes_per_gpu: int = 0
    lora_cache_gpu_memory_fraction: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _weight_bytes(shape: CheckpointShape, req: PlanRequest) -> tuple[int, int]:
    """(whole model, most loaded rank). Linear layers are split over TP and layers over PP stages;
    norms are replicated; the input embedding is not TP-split (TensorRT-LLM's default) and sits on
    the first stage, lm_head is split over TP on the last stage.

    A tied lm_head shares the embedding's memory only on one GPU. TensorRT-LLM drops the sharing at
    TP > 1 unless the embedding is split the same way (use_parallel_embedding along the vocabulary,
    which our recipes do not ask for) and at PP > 1 (ModelWeightsLoader.check_share_embedding,
    tensorrt_llm/models/model_weights_loader.py of NVIDIA/TensorRT-LLM at
    04a2cacbfd3b9ac76191bd8498ad871607b63a04): the last stage then holds its own TP-split copy."""
    act = DTYPE_BYTES[req.dtype]
    linear_bytes = QUANT_WEIGHT_BYTES.get(req.quant, act) if req.quant else act
    linear = shape.attention_params() + shape.mlp_params()
    layer_bytes = math.ceil(linear * linear_bytes)
    norm_bytes = shape.norm_params() * act
    embed = shape.embedding_params() * act
    lm_head = 0 if shape.tied_embeddings else embed  # lm_head stays unquantized (TensorRT-LLM default)

    total = shape.num_layers * (layer_bytes + 2 * norm_bytes) + embed + lm_head + norm_bytes

    layers_per_stage = math.ceil(shape.num_layers / req.pp)
    stage_layers = layers_per_stage * (math.ceil(layer_bytes / req.tp) + 2 * norm_bytes)
    head = embed if (not shape.tied_embeddings or req.tp > 1 or req.pp > 1) else 0
    last_extra = math.ceil(head / req.tp) + norm_bytes
    first_extra = embed
    if req.pp == 1:
        per_gpu = stage_layers + first_extra + last_extra
    else:
        per_gpu = stage_layers + max(first_extra, last_extra)
    return total, per_gpu


def logits_bytes(shape: CheckpointShape, req: PlanRequest) -> tuple[int, int]:
    """(generation, context) logits buffer bytes on a GPU of the last PP stage, as TensorRT-LLM 1.2 allocates
    them (RuntimeBuffers, cpp/tensorrt_llm/batch_manager/runtimeBuffers.cpp of NVIDIA/TensorRT-LLM at
    2a9abd9536aa62ad3e4b9314be9286b1b1be523b); 0 for logits the engine does not gather. Generation: create()
    keeps GENERATION_LOGITS_CACHE_STEPS steps of [max_batch_size × beam, vocab] + a [beam, steps, vocab]
    transpose, per RuntimeBuffers: one per micro batch, PP of them with PP, else one (no TRT overlap, which
    the backend leaves off; trtGptModelInflightBatching.cpp at b35ac1b6), made before the KV cache is sized.
    Context: reshape() allocates [step's prompt tokens + sequences, vocab] in each step with prompts, after.
    vocab is padded to a multiple of TP × PP (ModelConfig::getVocabSizePadded,
    cpp/include/tensorrt_llm/runtime/modelConfig.h at 585c756579dc4d01f21fc13c2f604cdb461ac4f0)."""
    world = req.tp * req.pp
    vocab = math.ceil(shape.vocab_size / world) * world
    elem = DTYPE_BYTES[req.logits_dtype]
    beams = req.max_beam_width
    generation = req.pp * GENERATION_LOGITS_CACHE_STEPS * (req.max_batch_size + 1) * beams * vocab * elem
    context = (req.max_num_tokens + req.max_batch_size * beams) * vocab * elem
    return tuple(
        size if on else 0 for size, on in zip((generation, context), gathers(req.gather_logits), strict=True)
    )


def plan(shape: CheckpointShape, req: PlanRequest) -> Plan:
    notes = []
    weights, weights_per_gpu = _weight_bytes(shape, req)
    generation_logits, context_logits = logits_bytes(shape, req)
    kv_elem = DTYPE_BYTES[req.kv_dtype]
    kv_per_token = 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * kv_elem  # K and V
    kv_heads_per_gpu = math.ceil(shape.num_kv_heads / req.tp)  # TP > kv heads: heads are replicated
    kv_per_token_gpu = 2 * math.ceil(shape.num_layers / req.pp) * kv_heads_per_gpu * shape.head_dim * kv_elem

    gpu_mem = int(req.gpu_mem_gb * GIB)
    reserve = max(RESERVE_MIN_BYTES, int(gpu_mem * RESERVE_FRACTION))
    notes.append(
        f"reserve {reserve / GIB:.1f} GiB per GPU (max(2 GiB, 10% of GPU memory)) for the CUDA "
        "context, TensorRT activations, NCCL buffers and decoder state; not given to the KV cache"
    )
    # The backend sizes the KV cache last: the engine, its TensorRT execution contexts, runtime buffers,
    # the decoder and the TP all-reduce workspace are all allocated first, in the
    # TrtGptModelInflightBatching constructor before calculateFreeMemBytes
    # (cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatching.cpp of NVIDIA/TensorRT-LLM at
    # b35ac1b64368513d215c57d2ed01d62d910df8da). So kv_cache_free_gpu_mem_fraction is a share of the memory
    # left after the weights AND the reserve; the reserve must not be taken off a second time.
    # Gathered logits (logits_bytes), on top of the reserve: generation logits are allocated before the KV
    # cache is sized; context logits during a step, later, so the KV share must leave them room.
    free_at_kv_sizing = gpu_mem - weights_per_gpu - reserve - generation_logits
    kv_percent = KV_PERCENT_OF_FREE
    if context_logits and free_at_kv_sizing > 0:
        kv_percent = min(KV_PERCENT_OF_FREE, (free_at_kv_sizing - context_logits) * 100 // free_at_kv_sizing)
    lora_cache = lora_device_bytes(shape, req)
    if lora_cache and free_at_kv_sizing > 0:  # allocated after the KV cache, from what it leaves
        kv_percent = min(
            kv_percent, (free_at_kv_sizing * kv_percent // 100 - lora_cache) * 100 // free_at_kv_sizing
        )
    kv_cache = free_at_kv_sizing * kv_percent // 100 if kv_percent > 0 else 0
    seq_tokens = math.ceil(req.context / TOKENS_PER_BLOCK) * TOKENS_PER_BLOCK
    if kv_cache <= 0:
        logits = " + gathered logits" if generation_logits or context_logits else ""
        notes.append(
            f"weights ({weights_per_gpu / GIB:.1f} GiB per GPU) + reserve{logits} do not fit in "
            f"{req.gpu_mem_gb:g} GiB: raise --tp/--pp or quantize"
        )
        return Plan(
            total_params=shape.total_params(),
            weight_bytes=weights,
            weight_bytes_per_gpu=weights_per_gpu,
            kv_bytes_per_token=kv_per_token,
            kv_bytes_per_token_per_gpu=kv_per_token_gpu,
            gpu_mem_bytes=gpu_mem,
            reserve_bytes=reserve,
            kv_cache_bytes_per_gpu=0,
            max_tokens_in_paged_kv_cache=0,
            max_concurrent_sequences=0,
            kv_cache_free_gpu_mem_fraction=0.0,
            fits=False,
            notes=notes,
            generation_logits_bytes_per_gpu=generation_logits,
            context_logits_bytes_per_gpu=context_logits,
        )
    kv_tokens = kv_cache // kv_per_token_gpu // TOKENS_PER_BLOCK * TOKENS_PER_BLOCK
    max_seqs = kv_tokens // seq_tokens
    fraction = kv_percent / 100
    if max_seqs == 0:
        notes.append(f"not even one {req.context}-token sequence fits in the KV cache")
    left = free_at_kv_sizing - kv_cache
    lora_fraction = math.ceil(lora_cache * 100 / left) / 100 if lora_cache else None
    return Plan(
        total_params=shape.total_params(),
        weight_bytes=weights,
        weight_bytes_per_gpu=weights_per_gpu,
        kv_bytes_per_token=kv_per_token,
        kv_bytes_per_token_per_gpu=kv_per_token_gpu,
        gpu_mem_bytes=gpu_mem,
        reserve_bytes=reserve,
        kv_cache_bytes_per_gpu=kv_cache,
        max_tokens_in_paged_kv_cache=kv_tokens,
        max_concurrent_sequences=max_seqs,
        kv_cache_free_gpu_mem_fraction=fraction,
        fits=max_seqs > 0,
        notes=notes,
        generation_logits_bytes_per_gpu=generation_logits,
        context_logits_bytes_per_gpu=context_logits,
        lora_cache_bytes_per_gpu=lora_cache,
        lora_cache_gpu_memory_fraction=lora_fraction,
    )


def lora_device_bytes(shape: CheckpointShape, req: PlanRequest) -> int:
    """The LoRA device cache for lora_adapters adapters of max_lora_rank (0 without LoRA). The backend
    gives it lora_cache_gpu_memory_fraction of the GPU memory free after the engine and the KV cache
    (docs/upstream/lora.md 1.2: tensorrtllm_backend r26.04 docs/lora.md, PeftCacheManager), so the
    plan keeps it out of the KV cache's share."""
    if req.lora is None:
        return 0
    one = adapter_bytes_per_gpu(shape, req.lora, tp=req.tp, pp=req.pp, dtype_bytes=DTYPE_BYTES[req.dtype])
    return req.lora_adapters * one


def plan_from_file(config_path: Path, req: PlanRequest) -> Plan:
    path = Path(config_path)
    if path.is_dir():
        path = path / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    return plan(CheckpointShape.from_hf_config(cfg), req)


def format_plan(p: Plan, req: PlanRequest) -> str:
    gb = 1e9
    lines = [
        f"parameters:               {p.total_params:,}",
        f"weights (all GPUs):       {p.weight_bytes:,} B = {p.weight_bytes / gb:.2f} GB",
        f"weights per GPU (TP={req.tp}, PP={req.pp}): {p.weight_bytes_per_gpu:,} B = "
        f"{p.weight_bytes_per_gpu / GIB:.2f} GiB",
        f"KV bytes per token:       {p.kv_bytes_per_token:,} (per GPU {p.kv_bytes_per_token_per_gpu:,}; "
        f"KV dtype {req.kv_dtype})",
        f"KV cache per GPU:         {p.kv_cache_bytes_per_gpu / GIB:.2f} GiB = "
        f"{p.max_tokens_in_paged_kv_cache:,} tokens",
        f"max concurrent sequences at {req.context} tokens: {p.max_concurrent_sequences}",
        *(
            [
                f"logits buffers per GPU:   generation {p.generation_logits_bytes_per_gpu / GIB:.2f} GiB, "
                f"context {p.context_logits_bytes_per_gpu / GIB:.2f} GiB (gather_logits={req.gather_logits})"
            ]
            if req.gather_logits != "none"
            else []
        ),
        f"suggested engine config:  kv_cache_free_gpu_mem_fraction={p.kv_cache_free_gpu_mem_fraction} "
        f"or max_tokens_in_paged_kv_cache={p.max_tokens_in_paged_kv_cache}",
        *(
            [
                f"LoRA device cache per GPU: {p.lora_cache_bytes_per_gpu / GIB:.3f} GiB ({req.lora_adapters} "
                f"adapters of rank {req.lora.max_lora_rank}): gpu-repo --lora-cache-gpu-memory-fraction "
                f"{p.lora_cache_gpu_memory_fraction}"
            ]
            if req.lora is not None
            else []
        ),
    ]
    return "\n".join(lines + [f"note: {n}" for n in p.notes])
