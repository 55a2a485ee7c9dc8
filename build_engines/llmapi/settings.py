"""The LLM API's arguments for the PyTorch-backend engine model: typed, validated, one field per key.

`LlmApiSettings.to_yaml()` is engine/1/model.yaml's content: top-level keys are TorchLlmArgs fields
(upstream's llmapi model passes every key but `triton_config` to `LLM(**kwargs)`), nested mappings are
the fields of KvCacheConfig, CudaGraphConfig and a speculative config. Every name, default and
validator message is TensorRT-LLM 1.2.1's (python_backend/contract/llmapi_fields.json;
docs/upstream/trtllm-llm-api.md b, c); model_yaml.check() holds what is written to that extract.
Defaults that differ from upstream's say why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import speculative
from .lora import LoraSettings

GUIDED_DECODING_BACKENDS = ("xgrammar", "llguidance")  # TorchLlmArgs.guided_decoding_backend choices


def _positive(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class KvCacheSettings:
    """KvCacheConfig. With both max_tokens and the fraction set, "memory corresponding to the minimum
    will be used" (its description); the fraction is of the GPU memory free once the weights are
    loaded (capacity planner: build_engines/capacity/llmapi_memory.py)."""

    free_gpu_memory_fraction: float = 0.9
    max_tokens: int | None = None
    enable_block_reuse: bool = True
    host_cache_size: int | None = None  # bytes of host memory for offloaded blocks; None: no offload
    tokens_per_block: int = 32  # postprocessing turns reused blocks into cached tokens with it
    dtype: str = "auto"  # "fp8": an FP8 KV cache (PyTorch backend only)

    def __post_init__(self) -> None:
        fraction = self.free_gpu_memory_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise ValueError(
                f"kv_cache_config.free_gpu_memory_fraction must be a float between 0 and 1, got {fraction!r}"
            )
        _positive("kv_cache_config.max_tokens", self.max_tokens)
        _positive("kv_cache_config.tokens_per_block", self.tokens_per_block)
        if self.host_cache_size is not None and (
            isinstance(self.host_cache_size, bool) or self.host_cache_size < 0
        ):
            raise ValueError(
                f"kv_cache_config.host_cache_size must be >= 0 bytes, got {self.host_cache_size}"
            )
        if self.dtype not in ("auto", "fp8"):
            raise ValueError(f"kv_cache_config.dtype must be 'auto' or 'fp8', got {self.dtype!r}")

    def to_yaml(self) -> dict:
        out = {
            "free_gpu_memory_fraction": self.free_gpu_memory_fraction,
            "enable_block_reuse": self.enable_block_reuse,
            "tokens_per_block": self.tokens_per_block,
            "dtype": self.dtype,
        }
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        if self.host_cache_size is not None:
            out["host_cache_size"] = self.host_cache_size
        return out


@dataclass(frozen=True, kw_only=True)
class CudaGraphSettings:
    """CudaGraphConfig. CUDA graphs are on by default at 1.2.1 (TorchLlmArgs' default_factory); off is
    written `cuda_graph_config: null`. Set batch_sizes or max_batch_size, not both ("Please don't set
    both cuda_graph_config.batch_sizes and cuda_graph_config.max_batch_size.")."""

    enabled: bool = True
    max_batch_size: int = 0  # 0: TorchLlmArgs generates sizes up to 128
    batch_sizes: tuple[int, ...] | None = None
    enable_padding: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 0:
            raise ValueError("cuda_graph_config.max_batch_size must be non-negative")
        if self.batch_sizes is not None:
            if self.max_batch_size:
                raise ValueError(
                    "Please don't set both cuda_graph_config.batch_sizes and "
                    "cuda_graph_config.max_batch_size."
                )
            for size in self.batch_sizes:
                _positive("cuda_graph_config.batch_sizes entry", size)

    def to_yaml(self) -> dict | None:
        if not self.enabled:
            return None
        out: dict = {"enable_padding": self.enable_padding}
        if self.batch_sizes is not None:
            out["batch_sizes"] = list(self.batch_sizes)
        else:
            out["max_batch_size"] = self.max_batch_size
        return out


@dataclass(frozen=True, kw_only=True)
class LlmApiSettings:
    """The LLM(**kwargs) of the engine model. `model` is the HF checkpoint's path as the server sees it
    (never the assembling host's: python_backend/contract/repo_paths.py checks it before Triton starts)."""

    model: str
    max_batch_size: int
    max_num_tokens: int
    max_seq_len: int
    max_input_len: int  # 1.2.1 defaults it to 1024; written so prompts up to our limit are served
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    kv_cache: KvCacheSettings = field(default_factory=KvCacheSettings)
    cuda_graph: CudaGraphSettings = field(default_factory=CudaGraphSettings)
    speculative: speculative.Speculative | None = None
    # Guided decoding on, as on the C++-backend path: the shared ensemble sends guides.
    guided_decoding_backend: str | None = "xgrammar"
    # Off upstream; chunked prefill serves prompts longer than max_num_tokens (the trt path's
    # enable_chunked_context, also on there).
    enable_chunked_prefill: bool = True
    # Off upstream; on so the engine model can read llm.get_stats() and export the nv_trt_llm_* families.
    enable_iter_perf_stats: bool = True
    # Preprocessing already tokenized; the engine model always sets SamplingParams.end_id.
    skip_tokenizer_init: bool = True
    # Off upstream; on so every CompletionOutput carries request_perf_metrics (the perf outputs).
    return_perf_metrics: bool = True
    # Generation logits on request (prototype at 1.2.1; costs GPU memory): `gpu-repo --gather-logits`.
    gather_generation_logits: bool = False
    dtype: str = "auto"
    # Upstream's model.yaml writes it (deprecated at 1.2.1, where None already means "pytorch").
    backend: str = "pytorch"
    # LoRA adapters by request (gpu-repo --lora-dir): enable_lora + lora_config (lora.py); None: off.
    lora: LoraSettings | None = None

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model must name the checkpoint directory as the server sees it")
        for name in (
            "max_batch_size",
            "max_num_tokens",
            "max_seq_len",
            "max_input_len",
            "tensor_parallel_size",
            "pipeline_parallel_size",
        ):
            _positive(name, getattr(self, name))
        if self.max_input_len >= self.max_seq_len:
            raise ValueError(
                f"max_input_len ({self.max_input_len}) must be below max_seq_len ({self.max_seq_len}): "
                "max_seq_len counts the prompt and the generated tokens"
            )
        # Without chunked prefill the PyTorch backend refuses each longer prompt at submit ("The sum of
        # prompt length (...), query length (...) should not exceed max_num_tokens (...)", llm.html).
        if self.max_input_len > self.max_num_tokens and not self.enable_chunked_prefill:
            raise ValueError(
                f"a {self.max_input_len}-token prompt is above max_num_tokens {self.max_num_tokens} per "
                "iteration; enable_chunked_prefill=true is needed to serve it"
            )
        if self.guided_decoding_backend not in (None, *GUIDED_DECODING_BACKENDS):
            raise ValueError(
                f"guided_decoding_backend must be one of {', '.join(GUIDED_DECODING_BACKENDS)} or none, "
                f"got {self.guided_decoding_backend!r}"
            )
        if self.backend != "pytorch":
            raise ValueError(f"backend must be 'pytorch' on this path, got {self.backend!r}")

    def to_yaml(self) -> dict:
        """model.yaml's mapping, in upstream's order: model, backend, parallelism, then the rest."""
        out = {
            "model": self.model,
            "backend": self.backend,
            "tensor_parallel_size": self.tensor_parallel_size,
            "pipeline_parallel_size": self.pipeline_parallel_size,
            "dtype": self.dtype,
            "max_batch_size": self.max_batch_size,
            "max_num_tokens": self.max_num_tokens,
            "max_seq_len": self.max_seq_len,
            "max_input_len": self.max_input_len,
            "skip_tokenizer_init": self.skip_tokenizer_init,
            "enable_chunked_prefill": self.enable_chunked_prefill,
            "enable_iter_perf_stats": self.enable_iter_perf_stats,
            "return_perf_metrics": self.return_perf_metrics,
            "guided_decoding_backend": self.guided_decoding_backend,
            "kv_cache_config": self.kv_cache.to_yaml(),
            "cuda_graph_config": self.cuda_graph.to_yaml(),
        }
        if self.gather_generation_logits:
            out["gather_generation_logits"] = True
        if self.speculative is not None:
            out["speculative_config"] = speculative.to_yaml(self.speculative)
        if self.lora is not None:
            out["enable_lora"] = True
            out["lora_config"] = self.lora.to_yaml()
        return out
