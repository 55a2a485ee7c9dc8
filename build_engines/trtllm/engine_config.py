"""The GPU `engine` model's config.pbtxt: a validated dataclass rendered as Triton's ModelConfig protobuf.

Tensor names, dtypes, dims, reshape, optional and ragged flags are those of TensorRT-LLM's
`tensorrt_llm` model (triton_backend/all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt),
restricted to what our shared ensemble sends, plus every output the backend writes for those
requests; every `parameters` key is one that template defines (see pinned_flags_1_2.json,
"backend_parameters"). python_backend/contract/trtllm_backend/ states the backend's rules with
their sources; contract_check.check_engine_config() finds no problem with what to_model_config() returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2 as pb

from python_backend.contract.trtllm_backend import GUIDED_DECODING_BACKENDS, INPUTS, OUTPUTS, PERF_METRICS

from .. import model_config
from ..model_config import ModelConfig
from .lookahead import Lookahead
from .lora import ENGINE_INPUTS as LORA_INPUTS
from .lora import LoraCache

# What our shared ensemble sends the engine; each tensor's dtype, dims, reshape and ragged flag come
# from the backend's own table (trtllm_backend.INPUTS). The first three it always sends, so they
# are declared required (the template leaves input_ids optional for encoder-decoder models).
ENGINE_INPUTS = (
    "input_ids",
    "input_lengths",
    "request_output_len",
    "end_id",
    "pad_id",
    "stop_words_list",
    "bad_words_list",
    "embedding_bias",
    "runtime_top_k",
    "runtime_top_p",
    "temperature",
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "min_tokens",
    "seed",
    "streaming",
    "exclude_input_in_output",
    "return_perf_metrics",
    "stop",
    "guided_decoding_guide_type",
    "guided_decoding_guide",
    "beam_width",
    "num_return_sequences",
    "len_penalty",
    "return_log_probs",
    "return_generation_logits",
    "return_context_logits",
    "return_num_input_tokens",
    "return_num_output_tokens",
)
ALWAYS_SENT = {"input_ids", "input_lengths", "request_output_len"}
# The GPU repository's preprocessing always sets return_perf_metrics (postprocessing keys streams by
# arrival_time_ns; preprocess.EngineTraits.needs_perf_metrics), and
# with it the backend writes all ten perf outputs on every response, requested or not; an undeclared
# one turns the response into an error (trtllm_backend.OUTPUTS, fillTritonResponse/processStats).
# The ensemble maps return_log_probs and return_*_logits, so cum_log_probs / output_log_probs /
# generation_logits must be declared too, and so context_logits. (Real logits also need an engine built
# with gather_generation_logits / gather_context_logits; what the executor answers without was not read.)
# num_return_sequences > 1 makes it write sequence_index, and a request with a batch of several
# prompts batch_index; the ensemble maps both (sibling answers, batched prompts).
ENGINE_OUTPUTS = (
    "output_ids",
    "sequence_length",
    "cum_log_probs",
    "output_log_probs",
    "generation_logits",
    "context_logits",
    "sequence_index",
    "batch_index",
    "num_input_tokens",
    "num_output_tokens",
    *PERF_METRICS,
)
SCHEDULER_POLICIES = ("max_utilization", "guaranteed_no_evict")


@dataclass
class TrtllmEngineModel:
    engine_path: str  # `gpt_model_path`: where the backend finds the engine, as seen by tritonserver
    max_batch_size: int = 64
    decoupled: bool = True
    max_queue_size: int = 256
    max_queue_delay_microseconds: int = 0
    max_beam_width: int = 1
    batch_scheduler_policy: str = "guaranteed_no_evict"
    kv_cache_free_gpu_mem_fraction: float | None = 0.9
    max_tokens_in_paged_kv_cache: int | None = None
    enable_kv_cache_reuse: bool = True
    enable_chunked_context: bool = True
    exclude_input_in_output: bool = True
    cancellation_check_period_ms: int = 100
    stats_check_period_ms: int = 100
    # Read unconditionally by the backend (getGuidedDecodingConfigFromParams): they must exist. Empty
    # means "guided decoding off" (as do the template's ${...} placeholders); tokenizer_dir is ignored
    # by the C++ path.
    guided_decoding_backend: str = ""
    xgrammar_tokenizer_info_path: str = ""
    tokenizer_dir: str = ""
    lookahead: Lookahead | None = None  # lookahead decoding: decoding_mode and the three sizes
    lora: LoraCache | None = None  # a LoRA engine: its PEFT cache parameters and the lora inputs
    name: str = "engine"

    def __post_init__(self) -> None:
        if not self.engine_path:
            raise ValueError("engine_path must name the engine directory")
        for field_name in (
            "max_batch_size",
            "max_beam_width",
            "cancellation_check_period_ms",
            "stats_check_period_ms",
        ):
            value = getattr(self, field_name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field_name} must be a positive integer, got {value!r}")
        if self.max_queue_size < 0 or self.max_queue_delay_microseconds < 0:
            raise ValueError(
                f"max_queue_size ({self.max_queue_size}) and max_queue_delay_microseconds "
                f"({self.max_queue_delay_microseconds}) must be >= 0"
            )
        if self.batch_scheduler_policy not in SCHEDULER_POLICIES:
            raise ValueError(
                f"batch_scheduler_policy must be one of {', '.join(SCHEDULER_POLICIES)}, "
                f"got {self.batch_scheduler_policy!r}"
            )
        if self.kv_cache_free_gpu_mem_fraction is None and self.max_tokens_in_paged_kv_cache is None:
            raise ValueError("set kv_cache_free_gpu_mem_fraction or max_tokens_in_paged_kv_cache (or both)")
        # The backend refuses 1.0 at load (see plan.KV_PERCENT_OF_FREE for the source).
        if (
            self.kv_cache_free_gpu_mem_fraction is not None
            and not 0 < self.kv_cache_free_gpu_mem_fraction < 1
        ):
            raise ValueError(
                f"kv_cache_free_gpu_mem_fraction must be in (0, 1), got {self.kv_cache_free_gpu_mem_fraction}"
            )
        if self.max_tokens_in_paged_kv_cache is not None and self.max_tokens_in_paged_kv_cache < 1:
            raise ValueError(
                f"max_tokens_in_paged_kv_cache must be positive, got {self.max_tokens_in_paged_kv_cache}"
            )
        if self.guided_decoding_backend and self.guided_decoding_backend not in GUIDED_DECODING_BACKENDS:
            raise ValueError(
                f"guided_decoding_backend must be empty (off) or one of "
                f"{', '.join(GUIDED_DECODING_BACKENDS)}, got {self.guided_decoding_backend!r}"
            )
        if self.lookahead is not None and self.max_beam_width != 1:
            raise ValueError(f"max_beam_width {self.max_beam_width}: lookahead decoding needs beam width 1")
        if bool(self.guided_decoding_backend) != bool(self.xgrammar_tokenizer_info_path):
            raise ValueError(
                "guided decoding needs both guided_decoding_backend and xgrammar_tokenizer_info_path "
                "(the backend silently turns it off when either is empty)"
            )

    def parameters(self) -> dict[str, object]:
        params: dict[str, object] = {
            "gpt_model_type": "inflight_fused_batching",
            "gpt_model_path": self.engine_path,
            "tokenizer_dir": self.tokenizer_dir,
            "xgrammar_tokenizer_info_path": self.xgrammar_tokenizer_info_path,
            "guided_decoding_backend": self.guided_decoding_backend,
            "max_beam_width": self.max_beam_width,
            "batch_scheduler_policy": self.batch_scheduler_policy,
            "enable_kv_cache_reuse": self.enable_kv_cache_reuse,
            "enable_chunked_context": self.enable_chunked_context,
            "exclude_input_in_output": self.exclude_input_in_output,
            "cancellation_check_period_ms": self.cancellation_check_period_ms,
            "stats_check_period_ms": self.stats_check_period_ms,
            # Inputs may live in GPU memory (the template's default); the backend copies as needed.
            "FORCE_CPU_ONLY_INPUT_TENSORS": "no",
        }
        # The backend allocates min(fraction-derived, max_tokens) when both are set.
        if self.kv_cache_free_gpu_mem_fraction is not None:
            params["kv_cache_free_gpu_mem_fraction"] = self.kv_cache_free_gpu_mem_fraction
        if self.max_tokens_in_paged_kv_cache is not None:
            params["max_tokens_in_paged_kv_cache"] = self.max_tokens_in_paged_kv_cache
        if self.lookahead is not None:
            params.update(self.lookahead.parameters())
        if self.lora is not None:
            params.update(self.lora.parameters())
        return params

    def to_model_config(self) -> ModelConfig:
        cfg = ModelConfig()
        cfg.name = self.name
        cfg.backend = "tensorrtllm"
        cfg.max_batch_size = self.max_batch_size
        cfg.model_transaction_policy.decoupled = self.decoupled
        batching = cfg.dynamic_batching
        batching.preferred_batch_size.append(self.max_batch_size)
        batching.max_queue_delay_microseconds = self.max_queue_delay_microseconds
        # Past max_queue_size Triton rejects at once (UNAVAILABLE) instead of queueing without bound.
        batching.default_queue_policy.max_queue_size = self.max_queue_size
        declare_io(cfg, lora=self.lora is not None)
        # One Triton instance on the CPU: the backend itself drives every GPU of its MPI world.
        cfg.instance_group.add(count=1, kind=pb.ModelInstanceGroup.KIND_CPU)
        for key, value in self.parameters().items():
            model_config.set_parameter(cfg, key, value)
        return cfg


def declare_io(cfg: ModelConfig, *, lora: bool = False) -> None:
    """The `tensorrt_llm` model's inputs and outputs as our ensemble uses them: both GPU engines declare
    exactly these (the PyTorch path's engine model too, build_engines/llmapi/repository.py), so clients
    and the ensemble do not know which one serves. lora: an engine built with LoRA also takes the
    backend's lora_task_id / lora_weights / lora_config."""
    for name in ENGINE_INPUTS + (LORA_INPUTS if lora else ()):
        spec = INPUTS[name]
        tensor = cfg.input.add(name=name, data_type=pb.DataType.Value(spec.dtypes[0]), dims=list(spec.dims))
        if spec.reshape is not None:
            tensor.reshape.SetInParent()
            tensor.reshape.shape.extend(spec.reshape)
        tensor.optional = name not in ALWAYS_SENT
        tensor.allow_ragged_batch = spec.ragged
    for name in ENGINE_OUTPUTS:
        spec = OUTPUTS[name]
        cfg.output.add(name=name, data_type=pb.DataType.Value(spec.dtypes[0]), dims=list(spec.dims))
