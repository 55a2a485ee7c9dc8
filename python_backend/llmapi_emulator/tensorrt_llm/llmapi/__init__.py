"""tensorrt_llm.llmapi: the names the PyTorch-path engine model imports (and the configs it may pass)."""

from ..executor.request import LoRARequest
from ..executor.result import CompletionOutput, RequestError, RequestOutput
from ..sampling_params import GuidedDecodingParams, SamplingParams
from .config_models import (
    AttentionDpConfig,
    CudaGraphConfig,
    DraftTargetDecodingConfig,
    EagleDecodingConfig,
    KvCacheConfig,
    LoraConfig,
    MoeConfig,
    MTPDecodingConfig,
    NGramDecodingConfig,
    SchedulerConfig,
    TorchCompileConfig,
)
from .llm import LLM
from .llm_args import LlmArgs, TorchLlmArgs, update_llm_args_with_extra_dict

__all__ = [
    "LLM",
    "SamplingParams",
    "GuidedDecodingParams",
    "KvCacheConfig",
    "CudaGraphConfig",
    "SchedulerConfig",
    "MoeConfig",
    "AttentionDpConfig",
    "TorchCompileConfig",
    "EagleDecodingConfig",
    "NGramDecodingConfig",
    "MTPDecodingConfig",
    "DraftTargetDecodingConfig",
    "CompletionOutput",
    "RequestOutput",
    "RequestError",
    "LoRARequest",
    "LoraConfig",
    "LlmArgs",
    "TorchLlmArgs",
    "update_llm_args_with_extra_dict",
]
