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

GIB = 1 << 30
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1, "int8": 1}
# Bytes per weight of quantized linear layers; int4_awq adds one fp16 scale per 128-weight group.
QUANT_WEIGHT_BYTES = {"int8_wo": 1.0, "int8_sq": 1.0, "fp8": 1.0, "int4_awq": 0.5 + 2 / 128}
# HF's PretrainedConfig ties embeddings unless told otherwise; these model classes default to untied.
UNTIED_BY_DEFAULT = {"llama", "mistral", "mixtral", "qwen2", "qwen3"}
GATED_ACTS = {"silu", "swiglu", "swish"}
TOKENS_PER_BLOCK = 32  # trtllm-build's default paged-KV block size: a sequence holds whole blocks
# Kept free of the KV cache: CUDA context, TensorRT activation buffers, NCCL, decoder state.
RESERVE_FRACTION = 0.10
RESERVE_MIN_BYTES = 2 * GIB
MAX_KV_FRACTION = 0.95


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tied_embeddings: bool
    gated_mlp: bool
    rms_norm: bool  # RMSNorm has a weight; LayerNorm a weight and a bias
    attention_bias: bool
    mlp_bias: bool

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                     "num_kv_heads", "head_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_attention_heads ({self.num_heads}) is not a multiple of "
                             f"num_key_value_heads ({self.num_kv_heads})")

    @classmethod
    def from_hf_config(cls, cfg: dict) -> ModelShape:
        def get(*names, default=None):
            for name in names:
                if cfg.get(name) is not None:
                    return cfg[name]
            if default is None:
                raise ValueError(f"config.json has none of {names}")
            return default

        model_type = cfg.get("model_type", "")
        hidden = int(get("hidden_size", "n_embd"))
        heads = int(get("num_attention_heads", "n_head"))
        act = str(get("hidden_act", "activation_function", default="gelu"))
        gated = act in GATED_ACTS or model_type in UNTIED_BY_DEFAULT
        return cls(
            vocab_size=int(get("vocab_size")),
            hidden_size=hidden,
            intermediate_size=int(get("intermediate_size", "n_inner", default=4 * hidden)),
            num_layers=int(get("num_hidden_layers", "n_layer")),
            num_heads=heads,
            num_kv_heads=int(get("num_key_value_heads", default=heads)),
            head_dim=int(get("head_dim", default=hidden // heads)),
            tied_embeddings=bool(cfg.get("tie_word_embeddings", model_type not in UNTIED_BY_DEFAULT)),
            gated_mlp=gated,
            rms_norm="rms_norm_eps" in cfg,
            attention_bias=bool(cfg.get("attention_bias", model_type in ("qwen2", "gpt2"))),
            mlp_bias=bool(cfg.get("mlp_bias", model_type == "gpt2")),
        )

    # --- parameter counts (per layer unless said otherwise) ---
    def attention_params(self) -> int:
        q_out = self.num_heads * self.head_dim
        kv_out = self.num_kv_heads * self.head_dim
        weights = self.hidden_size * (q_out + 2 * kv_out) + q_out * self.hidden_size  # q, k, v, o
        bias = (q_out + 2 * kv_out + self.hidden_size) if self.attention_bias else 0
        return weights + bias

    def mlp_params(self) -> int:
        matrices = 3 if self.gated_mlp else 2  # gate+up+down vs fc+proj
        bias = ((matrices - 1) * self.intermediate_size + self.hidden_size) if self.mlp_bias else 0
        return matrices * self.hidden_size * self.intermediate_size + bias

    def norm_params(self) -> int:
        return self.hidden_size * (1 if self.rms_norm else 2)

    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    def total_params(self) -> int:
        per_layer = self.attention_params() + self.mlp_params() + 2 * self.norm_params()
        lm_head = 0 if self.tied_embeddings else self.embedding_params()
        return self.num_layers * per_layer + self.embedding_params() + lm_head + self.norm_params()


@dataclass
class PlanRequest:
    dtype: str = "float16"
    tp: int = 1
    pp: int = 1
    gpu_mem_gb: float = 80.0
    context: int = 4096
    quant: str | None = None
    kv_dtype: str | None = None

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
        for name in ("tp", "pp", "context"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.gpu_mem_gb <= 0:
            raise ValueError(f"gpu_mem_gb must be positive, got {self.gpu_mem_gb}")


@dataclass
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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _weight_bytes(shape: ModelShape, req: PlanRequest) -> tuple[int, int]:
    """(whole model, most loaded rank). Linear layers are split over TP and layers over PP stages;
    norms are replicated; the input embedding is not TP-split (TensorRT-LLM's default) and sits on
    the first stage, lm_head is split over TP on the last stage."""
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
    # A tied lm_head shares the embedding's memory on a single stage; across stages the last one
    # needs its own copy, split over TP like an untied one.
    head = embed if (not shape.tied_embeddings or req.pp > 1) else 0
    last_extra = math.ceil(head / req.tp) + norm_bytes
    first_extra = embed
    if req.pp == 1:
        per_gpu = stage_layers + first_extra + last_extra
    else:
        per_gpu = stage_layers + max(first_extra, last_extra)
    return total, per_gpu


def plan(shape: ModelShape, req: PlanRequest) -> Plan:
    notes = []
    weights, weights_per_gpu = _weight_bytes(shape, req)
    kv_elem = DTYPE_BYTES[req.kv_dtype]
    kv_per_token = 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * kv_elem  # K and V
    kv_heads_per_gpu = math.ceil(shape.num_kv_heads / req.tp)  # TP > kv heads: heads are replicated
    kv_per_token_gpu = 2 * math.ceil(shape.num_layers / req.pp) * kv_heads_per_gpu * shape.head_dim * kv_elem

    gpu_mem = int(req.gpu_mem_gb * GIB)
    reserve = max(RESERVE_MIN_BYTES, int(gpu_mem * RESERVE_FRACTION))
    notes.append(f"reserve {reserve / GIB:.1f} GiB per GPU (max(2 GiB, 10% of GPU memory)) for the CUDA "
                 "context, TensorRT activations, NCCL buffers and decoder state; not given to the KV cache")
    kv_cache = gpu_mem - weights_per_gpu - reserve
    seq_tokens = math.ceil(req.context / TOKENS_PER_BLOCK) * TOKENS_PER_BLOCK
    if kv_cache <= 0:
        notes.append(f"weights ({weights_per_gpu / GIB:.1f} GiB per GPU) + reserve do not fit in "
                     f"{req.gpu_mem_gb:g} GiB: raise --tp/--pp or quantize")
        return Plan(shape.total_params(), weights, weights_per_gpu, kv_per_token, kv_per_token_gpu, gpu_mem,
                    reserve, 0, 0, 0, 0.0, False, notes)
    kv_tokens = kv_cache // kv_per_token_gpu // TOKENS_PER_BLOCK * TOKENS_PER_BLOCK
    max_seqs = kv_tokens // seq_tokens
    # The backend's fraction applies to memory free *after* the engine (weights) is loaded.
    fraction = min(MAX_KV_FRACTION, math.floor(kv_cache / (gpu_mem - weights_per_gpu) * 100) / 100)
    if max_seqs == 0:
        notes.append(f"not even one {req.context}-token sequence fits in the KV cache")
    return Plan(shape.total_params(), weights, weights_per_gpu, kv_per_token, kv_per_token_gpu, gpu_mem,
                reserve, kv_cache, kv_tokens, max_seqs, fraction, max_seqs > 0, notes)


def plan_from_file(config_path: Path, req: PlanRequest) -> Plan:
    path = Path(config_path)
    if path.is_dir():
        path = path / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    return plan(ModelShape.from_hf_config(cfg), req)


def format_plan(p: Plan, req: PlanRequest) -> str:
    gb = 1e9
    lines = [
        f"parameters:               {p.total_params:,}",
        f"weights (all GPUs):       {p.weight_bytes:,} B = {p.weight_bytes / gb:.2f} GB",
        f"weights per GPU (TP={req.tp}, PP={req.pp}): {p.weight_bytes_per_gpu:,} B = {p.weight_bytes_per_gpu / GIB:.2f} GiB",
        f"KV bytes per token:       {p.kv_bytes_per_token:,} (per GPU {p.kv_bytes_per_token_per_gpu:,}; KV dtype {req.kv_dtype})",
        f"KV cache per GPU:         {p.kv_cache_bytes_per_gpu / GIB:.2f} GiB = {p.max_tokens_in_paged_kv_cache:,} tokens",
        f"max concurrent sequences at {req.context} tokens: {p.max_concurrent_sequences}",
        f"suggested engine config:  kv_cache_free_gpu_mem_fraction={p.kv_cache_free_gpu_mem_fraction} "
        f"or max_tokens_in_paged_kv_cache={p.max_tokens_in_paged_kv_cache}",
    ]
    return "\n".join(lines + [f"note: {n}" for n in p.notes])
