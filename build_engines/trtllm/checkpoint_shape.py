"""The shape of an HF checkpoint, read from its config.json, and the parameters each part holds.

The planner (plan.py) places these counts on GPUs; nothing here needs the weights themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

# HF's PretrainedConfig ties embeddings unless told otherwise; these model classes default to untied.
UNTIED_BY_DEFAULT = {"llama", "mistral", "mixtral", "qwen2", "qwen3"}
GATED_ACTS = {"silu", "swiglu", "swish"}


@dataclass(frozen=True, kw_only=True)
class CheckpointShape:
    """The sizes of a Llama/GPT-style checkpoint that decide its parameter count and KV-cache size."""

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
        for name in (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_layers",
            "num_heads",
            "num_kv_heads",
            "head_dim",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_attention_heads ({self.num_heads}) is not a multiple of "
                f"num_key_value_heads ({self.num_kv_heads})"
            )

    @classmethod
    def from_hf_config(cls, cfg: dict) -> CheckpointShape:
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
