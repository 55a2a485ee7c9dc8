"""The `tensorrtllm` backend's model parameters: which it requires, each one's default, how it reads them.

Every parameter carries its Source (sources.py): the function of model_instance_state.cc that
reads it, and the line of the same read at BACKEND_C2E.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sources import GET_PARAMETER, Source, backend_c2e, model_instance_state

MISSING_PARAMETER = "Cannot find parameter with name: {name}"  # thrown by GetParameter<std::string>
LOAD_FAILURE = "unexpected error when creating modelInstanceState: {error}"  # ModelInstanceState::Create
PLACEHOLDER = "${{{name}}}"  # the template's unfilled value, e.g. ${tokenizer_dir}
# What GetParameter<bool> reads as true and as false.
BOOL_TRUE = ("True", "true", "TRUE", "1")
BOOL_FALSE = ("False", "false", "FALSE", "0")
REQUIRED = object()  # default of a parameter read outside any try block


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # str | bool | int | float | ints (comma list)
    default: object  # REQUIRED, or what the backend uses when the key is absent or does not parse
    sources: tuple[Source, ...]
    note: str = ""


def _p(name: str, kind: str, default: object, where: str, line: int, note: str = "") -> Parameter:
    """A parameter read by `where` in model_instance_state.cc (at `line` of BACKEND_C2E's copy)."""
    sources = (model_instance_state(where), backend_c2e("model_instance_state.cc", line))
    return Parameter(name=name, kind=kind, default=default, sources=sources, note=note)


REQUIRED_PARAMETERS = (
    _p(
        "gpt_model_type",
        "str",
        REQUIRED,
        "getBatchingTypeFromParams",
        62,
        "V1|v1 (static) or inflight_batching|inflight_fused_batching; anything else: "
        "'Invalid gpt_model_type. Must be v1/inflight_batching/inflight_fused_batching.'",
    ),
    _p(
        "tokenizer_dir",
        "str",
        REQUIRED,
        "getGuidedDecodingConfigFromParams",
        413,
        "ignored by the C++ workflow (logs an INFO line when set)",
    ),
    _p(
        "xgrammar_tokenizer_info_path",
        "str",
        REQUIRED,
        "getGuidedDecodingConfigFromParams",
        414,
        "empty or ${xgrammar_tokenizer_info_path}: guided decoding off; else the file must exist",
    ),
    _p(
        "guided_decoding_backend",
        "str",
        REQUIRED,
        "getGuidedDecodingConfigFromParams",
        415,
        "empty or ${guided_decoding_backend}: off; else only 'xgrammar' (other values fail the load)",
    ),
)
GUIDED_DECODING_BACKENDS = ("xgrammar",)
GPT_MODEL_TYPES = ("V1", "v1", "inflight_batching", "inflight_fused_batching")
# gpt_model_path is read in a try block, but with neither it nor encoder_model_path (or a path that does not
# exist: the check is inside that try) the load fails with this message.
NO_ENGINE_PATH = "Both encoder and decoder model paths are empty"
# The engine path's own check (TLLM_CHECK_WITH_INFO(std::filesystem::exists(...))) and the warning its catch
# logs instead: the load then fails with NO_ENGINE_PATH (docs/upstream/trtllm-1.2-deployment.md Q7,
# model_instance_state.cc at c8c6df08bd0ead54cd47f7973e1e425c28a174cd).
ENGINE_PATH_MISSING = "Decoder (GPT) model path at {path} does not exist."
ENGINE_PATH_SWALLOWED = "gpt_model_path is not specified, will be left empty"
# getGuidedDecodingConfigFromParams checks the file outside any try: this fails the load (same source).
TOKENIZER_INFO_MISSING = "Xgrammar's tokenizer info path at {path} does not exist."
# The parameters that name a file or directory, the ones a moved repository breaks; tokenizer_dir is
# read (and ignored by the C++ workflow) by the backend, and is the tokenizer of our Python models.
PATH_PARAMETERS = ("gpt_model_path", "encoder_model_path", "xgrammar_tokenizer_info_path", "tokenizer_dir")
ENGINE_PATH_SOURCES = (
    model_instance_state("ModelInstanceState::ModelInstanceState"),
    backend_c2e("model_instance_state.cc", 772),
)

OPTIONAL_PARAMETERS = (
    _p("gpt_model_path", "str", "", "ModelInstanceState::ModelInstanceState", 746, "the engine directory"),
    _p("encoder_model_path", "str", "", "ModelInstanceState::ModelInstanceState", 760),
    _p("max_beam_width", "int", 1, "getExecutorConfigFromParams", 462),
    _p("iter_stats_max_iterations", "int", "executor default", "getExecutorConfigFromParams", 473),
    _p("request_stats_max_iterations", "int", "executor default", "getExecutorConfigFromParams", 485),
    _p("enable_trt_overlap", "bool", False, "getExecutorConfigFromParams", 496),
    _p("normalize_log_probs", "bool", True, "getExecutorConfigFromParams", 506),
    _p("enable_chunked_context", "bool", False, "getExecutorConfigFromParams", 521),
    _p(
        "decoding_mode",
        "str",
        "top_k_top_p if max_beam_width == 1 else beam_search",
        "getExecutorConfigFromParams",
        548,
    ),
    # Read only when decoding_mode is "lookahead"; then all three are needed (LOOKAHEAD_MISSING).
    _p(
        "lookahead_window_size",
        "int",
        None,
        "getExecutorConfigFromParams",
        632,
        "with decoding_mode lookahead",
    ),
    _p(
        "lookahead_ngram_size",
        "int",
        None,
        "getExecutorConfigFromParams",
        633,
        "with decoding_mode lookahead",
    ),
    _p(
        "lookahead_verification_set_size",
        "int",
        None,
        "getExecutorConfigFromParams",
        634,
        "with decoding_mode lookahead",
    ),
    _p("gpu_weights_percent", "float", 1.0, "getExecutorConfigFromParams", 652),
    _p("recv_poll_period_ms", "int", 0, "getExecutorConfigFromParams", 685),
    _p("max_tokens_in_paged_kv_cache", "int", None, "getKvCacheConfigFromParams", 86),
    _p("kv_cache_free_gpu_mem_fraction", "float", "0.9 (executor default)", "getKvCacheConfigFromParams", 99),
    _p("cross_kv_cache_fraction", "float", None, "getKvCacheConfigFromParams", 112),
    _p("kv_cache_host_memory_bytes", "int", 0, "getKvCacheConfigFromParams", 123),
    _p("kv_cache_onboard_blocks", "bool", True, "getKvCacheConfigFromParams", 133),
    _p("max_attention_window_size", "ints", "max_sequence_length", "getKvCacheConfigFromParams", 144),
    _p("sink_token_length", "int", None, "getKvCacheConfigFromParams", 157),
    _p("enable_kv_cache_reuse", "bool", True, "getKvCacheConfigFromParams", 170),
    _p("multi_block_mode", "bool", True, "getExtendedRuntimePerfKnobConfigFromParams", 194),
    _p("enable_context_fmha_fp32_acc", "bool", False, "getExtendedRuntimePerfKnobConfigFromParams", 205),
    _p("cuda_graph_mode", "bool", False, "getExtendedRuntimePerfKnobConfigFromParams", 216),
    _p("cuda_graph_cache_size", "int", 0, "getExtendedRuntimePerfKnobConfigFromParams", 227),
    _p("num_nodes", "int", 1, "getParallelConfigFromParams", 276),
    _p(
        "batch_scheduler_policy",
        "str",
        "guaranteed_no_evict",
        "getSchedulerConfigFromParams",
        360,
        "max_utilization | guaranteed_no_evict; anything else logs a warning and keeps the default",
    ),
    _p("speculative_decoding_fast_logits", "bool", False, "getSpeculativeDecodingConfigFromParams", 390),
    _p(
        "exclude_input_in_output",
        "bool",
        False,
        "ModelInstanceState::ModelInstanceState",
        800,
        "per-request input exclude_input_in_output wins (utils.cc createRequestsFromInputTensors)",
    ),
    _p("cancellation_check_period_ms", "int", 100, "ModelInstanceState::ModelInstanceState", 812),
    _p("stats_check_period_ms", "int", 100, "ModelInstanceState::ModelInstanceState", 824),
    _p("lora_cache_optimal_adapter_size", "int", 8, "getPeftCacheConfigFromParams", 315),
    _p("lora_cache_max_adapter_size", "int", 64, "getPeftCacheConfigFromParams", 305),
    _p("lora_cache_gpu_memory_fraction", "float", 0.05, "getPeftCacheConfigFromParams", 324),
    _p("lora_cache_host_memory_bytes", "int", "1GB", "getPeftCacheConfigFromParams", 333),
    _p("lora_prefetch_dir", "str", None, "getPeftCacheConfigFromParams", 342),
    Parameter(name="gpu_device_ids", kind="str", default=None, sources=(GET_PARAMETER[0],)),
    Parameter(name="participant_ids", kind="str", default=None, sources=(GET_PARAMETER[0],)),
    Parameter(
        name="executor_worker_path",
        kind="str",
        default="/opt/tritonserver/backends/tensorrtllm/trtllmExecutorWorker",
        sources=(GET_PARAMETER[0],),
        note="orchestrator mode only",
    ),
)
# Keys the template ships that no GetParameter call reads here (medusa/eagle choices are read only with a
# matching decoding_mode, a path this project does not use).
TEMPLATE_ONLY_PARAMETERS = ("FORCE_CPU_ONLY_INPUT_TENSORS", "medusa_choices", "eagle_choices")
# decoding_mode values the backend knows (getExecutorConfigFromParams, model_instance_state.cc L548-L590
# at BACKEND_C2E); another value logs "decoding_mode parameter is invalid or not specified" and keeps
# the default.
DECODING_MODES = ("top_k", "top_p", "top_k_top_p", "beam_search", "medusa", "redrafter", "lookahead", "eagle")
LOOKAHEAD_PARAMETERS = ("lookahead_window_size", "lookahead_ngram_size", "lookahead_verification_set_size")
# ... and with decoding_mode lookahead but a size missing, the load fails with (L642-L645):
LOOKAHEAD_MISSING = (
    "Decoding mode is set to lookahead but lookahead parameters are not specified. Please set "
    "parameters lookahead_window_size, lookahead_ngram_size, and lookahead_verification_set_size."
)
PARAMETERS = {p.name: p for p in REQUIRED_PARAMETERS + OPTIONAL_PARAMETERS}


def guided_decoding_off(value: str, name: str) -> bool:
    """getGuidedDecodingConfigFromParams: an empty value or the template placeholder means
    'not configured'."""
    return value == "" or value == PLACEHOLDER.format(name=name)
