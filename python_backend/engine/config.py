"""Validated settings of the CPU engine."""

from __future__ import annotations

from dataclasses import dataclass

from ..contract.limits import MAX_DRAFT_LEN


@dataclass(frozen=True)
class EngineConfig:
    """Limits of one engine instance.

    max_num_seqs            sequences decoded together (= KV slots; memory is preallocated for all)
    max_num_batched_tokens  tokens one step may compute (decode tokens + prefill chunks); bounds the
                            time of a step, so a long prompt is prefilled in chunks between decodes
    max_seq_len             prompt + generated tokens of one sequence (= positions per KV slot;
                            TensorRT-LLM's name for the same limit)
    max_queue_size          requests waiting for a slot; past it, new requests are rejected at once
    prefix_caching          reuse KV of a shared prompt prefix found in another (or a finished) slot
    min_prefix_reuse        shortest prefix worth reusing (copying a few tokens costs more than it saves)
    intra_op_threads        ONNX Runtime threads (0 = one per core)
    speculative_draft_len   prompt-lookup speculative decoding (engine/drafter.py): draft tokens a
                            decoding sequence proposes per step, verified in one model call; 0 = off
                            unless a request asks (its `speculative_draft_len` parameter). Needs an
                            export with the num_logits input (build_engines/onnx/lm_head.py).
    speculative_max_batch   speculate only while at most this many sequences decode: a verify call
                            reads every weight for one sequence, while one decode call reads them
                            once for all, so under load speculation turns itself off
    speculative_ngram       longest n-gram the drafter matches against the sequence's own tokens
    max_loras               LoRA adapters resident at once (weight slots of a LoRA-capable export,
                            engine/lora.py); more may be loaded by name, the least recently used
                            idle one is evicted. vLLM's name for the same limit
    max_lora_rank           largest adapter rank served (vLLM's name). A call in which a row has
                            an adapter computes the resident adapters' ranks summed as LoRA
                            columns per target module (masked per row: lora_weights.py), so its
                            cost grows with the adapters actually resident, at most max_loras ×
                            max_lora_rank; a call with no adapter in any row computes one column
    """

    max_num_seqs: int = 16
    max_num_batched_tokens: int = 512
    max_seq_len: int = 2048
    max_queue_size: int = 256
    prefix_caching: bool = True
    min_prefix_reuse: int = 8
    intra_op_threads: int = 0
    speculative_draft_len: int = 0
    speculative_max_batch: int = 1
    speculative_ngram: int = 3
    max_loras: int = 0
    max_lora_rank: int = 16

    def __post_init__(self) -> None:
        for name in ("max_num_seqs", "max_num_batched_tokens", "max_seq_len", "max_queue_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= max_num_seqs "
                f"({self.max_num_seqs}): every running sequence decodes one token per step"
            )
        if self.min_prefix_reuse < 1:
            raise ValueError(f"min_prefix_reuse must be >= 1, got {self.min_prefix_reuse}")
        if not 0 <= self.speculative_draft_len <= MAX_DRAFT_LEN:
            raise ValueError(
                f"speculative_draft_len must be in [0, {MAX_DRAFT_LEN}], got {self.speculative_draft_len!r}"
            )
        for name in ("speculative_max_batch", "speculative_ngram"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.max_loras < 0:
            raise ValueError(f"max_loras must be >= 0, got {self.max_loras!r}")
        if self.max_lora_rank < 1:
            raise ValueError(f"max_lora_rank must be a positive integer, got {self.max_lora_rank!r}")
        if self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0, got {self.intra_op_threads}")

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> EngineConfig:
        """Build from Triton config.pbtxt `parameters` (all strings); unknown keys are ignored."""
        kwargs: dict[str, object] = {}
        for name, field_type in cls.__annotations__.items():
            if name not in params:
                continue
            raw = params[name]
            try:
                if field_type == "bool":
                    if raw.lower() not in ("true", "false", "1", "0"):
                        raise ValueError
                    kwargs[name] = raw.lower() in ("true", "1")
                else:
                    kwargs[name] = int(raw)
            except ValueError:
                raise ValueError(f"engine parameter {name}: cannot parse {raw!r} as {field_type}") from None
        return cls(**kwargs)
