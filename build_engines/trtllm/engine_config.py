"""The GPU `engine` model's config.pbtxt: a validated dataclass rendered as Triton's ModelConfig protobuf.

Tensor names, dtypes, dims, reshape, optional and ragged flags are those of TensorRT-LLM's
`tensorrt_llm` model (triton_backend/all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt),
restricted to what our shared ensemble sends and reads; every `parameters` key is one that
template defines (see pinned_flags_1_2.json, "backend_parameters").
"""

from __future__ import annotations

from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2 as pb

from .. import model_config
from ..model_config import ModelConfig

SCALAR = ()  # dims [1] reshaped to [] (one value per request)

# (name, dtype, dims, reshape, optional, allow_ragged_batch)
INPUTS = (
    ("input_ids", pb.TYPE_INT32, (-1,), None, False, True),
    ("input_lengths", pb.TYPE_INT32, (1,), SCALAR, False, False),
    ("request_output_len", pb.TYPE_INT32, (1,), SCALAR, False, False),
    ("end_id", pb.TYPE_INT32, (1,), SCALAR, True, False),
    ("pad_id", pb.TYPE_INT32, (1,), SCALAR, True, False),
    ("stop_words_list", pb.TYPE_INT32, (2, -1), None, True, True),
    ("bad_words_list", pb.TYPE_INT32, (2, -1), None, True, True),
    ("runtime_top_k", pb.TYPE_INT32, (1,), SCALAR, True, False),
    ("runtime_top_p", pb.TYPE_FP32, (1,), SCALAR, True, False),
    ("temperature", pb.TYPE_FP32, (1,), SCALAR, True, False),
    ("repetition_penalty", pb.TYPE_FP32, (1,), SCALAR, True, False),
    ("presence_penalty", pb.TYPE_FP32, (1,), SCALAR, True, False),
    ("frequency_penalty", pb.TYPE_FP32, (1,), SCALAR, True, False),
    ("min_tokens", pb.TYPE_INT32, (1,), SCALAR, True, False),
    ("seed", pb.TYPE_UINT64, (1,), SCALAR, True, False),
    ("streaming", pb.TYPE_BOOL, (1,), SCALAR, True, False),
    ("exclude_input_in_output", pb.TYPE_BOOL, (1,), SCALAR, True, False),
    ("return_perf_metrics", pb.TYPE_BOOL, (1,), SCALAR, True, False),
    ("stop", pb.TYPE_BOOL, (1,), None, True, False),  # no reshape, as in tensorrtllm_backend's config
)
OUTPUTS = (
    ("output_ids", pb.TYPE_INT32, (-1, -1)),
    ("sequence_length", pb.TYPE_INT32, (-1,)),
    ("arrival_time_ns", pb.TYPE_INT64, (1,)),
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
    name: str = "engine"

    def __post_init__(self) -> None:
        if not self.engine_path:
            raise ValueError("engine_path must name the engine directory")
        for field_name in ("max_batch_size", "max_beam_width", "cancellation_check_period_ms",
                           "stats_check_period_ms"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field_name} must be a positive integer, got {value!r}")
        if self.max_queue_size < 0 or self.max_queue_delay_microseconds < 0:
            raise ValueError(f"max_queue_size ({self.max_queue_size}) and max_queue_delay_microseconds "
                             f"({self.max_queue_delay_microseconds}) must be >= 0")
        if self.batch_scheduler_policy not in SCHEDULER_POLICIES:
            raise ValueError(f"batch_scheduler_policy must be one of {', '.join(SCHEDULER_POLICIES)}, "
                             f"got {self.batch_scheduler_policy!r}")
        if self.kv_cache_free_gpu_mem_fraction is None and self.max_tokens_in_paged_kv_cache is None:
            raise ValueError("set kv_cache_free_gpu_mem_fraction or max_tokens_in_paged_kv_cache (or both)")
        if self.kv_cache_free_gpu_mem_fraction is not None and not 0 < self.kv_cache_free_gpu_mem_fraction <= 1:
            raise ValueError(f"kv_cache_free_gpu_mem_fraction must be in (0, 1], "
                             f"got {self.kv_cache_free_gpu_mem_fraction}")
        if self.max_tokens_in_paged_kv_cache is not None and self.max_tokens_in_paged_kv_cache < 1:
            raise ValueError(f"max_tokens_in_paged_kv_cache must be positive, got {self.max_tokens_in_paged_kv_cache}")

    def parameters(self) -> dict[str, object]:
        params: dict[str, object] = {
            "gpt_model_type": "inflight_fused_batching",
            "gpt_model_path": self.engine_path,
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
        for name, dtype, dims, reshape, optional, ragged in INPUTS:
            tensor = cfg.input.add(name=name, data_type=dtype, dims=list(dims))
            if reshape is not None:
                tensor.reshape.SetInParent()
                tensor.reshape.shape.extend(reshape)
            tensor.optional = optional
            tensor.allow_ragged_batch = ragged
        for name, dtype, dims in OUTPUTS:
            cfg.output.add(name=name, data_type=dtype, dims=list(dims))
        # One Triton instance on the CPU: the backend itself drives every GPU of its MPI world.
        cfg.instance_group.add(count=1, kind=pb.ModelInstanceGroup.KIND_CPU)
        for key, value in self.parameters().items():
            model_config.set_parameter(cfg, key, value)
        return cfg
