"""What TensorRT-LLM 1.2.x's `tensorrtllm` Triton backend requires of its model and does per request.

Plain data, no imports beyond the standard library (an emulator running inside Triton's Python
backend can use it). Every fact carries its Source: repository, path, commit, function or line.
Checks against a ModelConfig live in contract_check.py.

Which commits: the v1.2.1 tag itself could not be read here (NVIDIA/TensorRT-LLM is over the
fetch limit and no stored file version is tied to the tag). The backend was read as stored copies
of NVIDIA/TensorRT-LLM `triton_backend/` (model_instance_state.cc and the template at 0c8de69a,
whose tensorrt_llm/version.py says 1.2.0rc8, the release/1.2 line 1.2.1 closes; model_state.cc,
utils.h, utils.cc at the commits named) and checked against triton-inference-server/
tensorrtllm_backend c2e65b8 (2025-05, read with git; the L<line> sources): every backend fact here
reads the same in both, except the 1.2-only return_num_input/output_tokens. Executor facts
(llmRequest, updateRequests, types.h) cite stored TensorRT-LLM copies whose place relative to the
tag is unknown; the Triton core facts cite triton-inference-server/core.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    repo: str
    path: str
    commit: str
    where: str  # function name, or L<line> in that file at that commit

    def __str__(self) -> str:
        return f"{self.repo}@{self.commit[:10]}:{self.path} ({self.where})"


TRTLLM, BACKEND, CORE = (
    "NVIDIA/TensorRT-LLM",
    "triton-inference-server/tensorrtllm_backend",
    "triton-inference-server/core",
)
TRTLLM_1_2 = "0c8de69a1ca6213eebb20a51873890ff128666c2"  # tensorrt_llm/version.py: 1.2.0rc8
BACKEND_C2E = "c2e65b88d85255be30cf50440a91662abeb497dd"
CORE_COMMIT = "05295b706ae45796a7c9e3b2a58c19afd23f0054"
_TB = "triton_backend/inflight_batcher_llm/src/"


def _mis(where: str) -> Source:
    return Source(TRTLLM, _TB + "model_instance_state.cc", TRTLLM_1_2, where)


def _old(path: str, line: int, what: str = "") -> Source:
    return Source(
        BACKEND, "inflight_batcher_llm/src/" + path, BACKEND_C2E, f"L{line}{' ' + what if what else ''}"
    )


TEMPLATE = Source(
    TRTLLM,
    "triton_backend/all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt",
    TRTLLM_1_2,
    "input/output/parameters",
)
GET_PARAMETER = (
    Source(
        TRTLLM,
        _TB + "model_state.cc",
        "5cdd69218f8815d6c8c101ca1facf2ec4ac4b622",
        "ModelState::GetParameter<std::string>, GetParameter<bool>",
    ),
    _old("model_state.cc", 264),
)
CREATE = (_mis("ModelInstanceState::Create"), _old("model_instance_state.cc", 52))
FILL = (_mis("fillTritonResponse"), _old("model_instance_state.cc", 1042, "fillTritonResponse"))
WAIT = (_mis("WaitForResponse"), _old("model_instance_state.cc", 1328, "WaitForResponse"))
UTILS_CC = Source(
    TRTLLM,
    _TB + "utils.cc",
    "192908136e53ddfc2f282e81e6ecdb76af06eb50",
    "createRequestsFromInputTensors, getOutputConfigFromTensors, getRequestBooleanInputTensor",
)
RESPONSE_BUFFER = (
    Source(TRTLLM, _TB + "utils.h", "14c3afecc065a0dc44ec18332fd5ed1e632002d4", "getResponseBuffer"),
    _old("utils.h", 331),
)
CORE_ADD_OUTPUT = (
    Source(CORE, "src/infer_response.cc", CORE_COMMIT, "InferenceResponse::AddOutput"),
    Source(CORE, "src/model.cc", CORE_COMMIT, "Model::GetOutput"),
)
CREATE_RESULT = Source(
    TRTLLM,
    "cpp/tensorrt_llm/batch_manager/llmRequest.cpp",
    "119c6e60e65e5ecec4e97afdb6ea584f674aed24",
    "LlmRequest::createResult",
)
UPDATE_REQUESTS = Source(
    TRTLLM,
    "cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatching.cpp",
    "00825c4ee813bdc5eb2e5cf218b644b8c18ce2ec",
    "TrtGptModelInflightBatching::updateRequests",
)
ARRIVAL = (
    Source(
        TRTLLM,
        "cpp/include/tensorrt_llm/batch_manager/llmRequest.h",
        "00e9b8a773a690c1182ba23717e6c660a2246b70",
        "GenericLlmRequest::initialize",
    ),
    Source(
        TRTLLM,
        "cpp/include/tensorrt_llm/executor/types.h",
        "a98a9061d72f6fd39f5d055ebdd2c6878a100e2c",
        "struct RequestPerfMetrics: TimePoint = std::chrono::time_point<std::chrono::steady_clock>",
    ),
)

# --- parameters -----------------------------------------------------------------------------------

MISSING_PARAMETER = "Cannot find parameter with name: {name}"  # thrown by GetParameter<std::string>
LOAD_FAILURE = "unexpected error when creating modelInstanceState: {error}"  # ModelInstanceState::Create
PLACEHOLDER = "${{{name}}}"  # the template's unfilled value, e.g. ${tokenizer_dir}
BOOL_TRUE, BOOL_FALSE = ("True", "true", "TRUE", "1"), ("False", "false", "FALSE", "0")  # GetParameter<bool>
REQUIRED = object()  # default of a parameter read outside any try block


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # str | bool | int | float | ints (comma list)
    default: object  # REQUIRED, or what the backend uses when the key is absent or does not parse
    sources: tuple[Source, ...]
    note: str = ""


def _p(name: str, kind: str, default: object, where: str, line: int, note: str = "") -> Parameter:
    return Parameter(name, kind, default, (_mis(where), _old("model_instance_state.cc", line)), note)


REQUIRED_PARAMETERS = (
    _p(
        "gpt_model_type",
        "str",
        REQUIRED,
        "getBatchingTypeFromParams",
        62,
        "V1|v1 (static) or inflight_batching|inflight_fused_batching; anything else: 'Invalid gpt_model_type. "
        "Must be v1/inflight_batching/inflight_fused_batching.'",
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
ENGINE_PATH_SOURCES = (_mis("ModelInstanceState::ModelInstanceState"), _old("model_instance_state.cc", 772))

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
    Parameter("gpu_device_ids", "str", None, (GET_PARAMETER[0],)),
    Parameter("participant_ids", "str", None, (GET_PARAMETER[0],)),
    Parameter(
        "executor_worker_path",
        "str",
        "/opt/tritonserver/backends/tensorrtllm/trtllmExecutorWorker",
        (GET_PARAMETER[0],),
        "orchestrator mode only",
    ),
)
# Keys the template ships that no GetParameter call reads here (medusa/eagle choices are read only with a
# matching decoding_mode, a path this project does not use).
TEMPLATE_ONLY_PARAMETERS = ("FORCE_CPU_ONLY_INPUT_TENSORS", "medusa_choices", "eagle_choices")
# decoding_mode values the backend knows (getExecutorConfigFromParams, model_instance_state.cc L548-L590 at
# BACKEND_C2E); another value logs "decoding_mode parameter is invalid or not specified" and keeps the default.
DECODING_MODES = ("top_k", "top_p", "top_k_top_p", "beam_search", "medusa", "redrafter", "lookahead", "eagle")
LOOKAHEAD_PARAMETERS = ("lookahead_window_size", "lookahead_ngram_size", "lookahead_verification_set_size")
# ... and with decoding_mode lookahead but a size missing, the load fails with (L642-L645):
LOOKAHEAD_MISSING = (
    "Decoding mode is set to lookahead but lookahead parameters are not specified. Please set "
    "parameters lookahead_window_size, lookahead_ngram_size, and lookahead_verification_set_size."
)
PARAMETERS = {p.name: p for p in REQUIRED_PARAMETERS + OPTIONAL_PARAMETERS}


def guided_decoding_off(value: str, name: str) -> bool:
    """getGuidedDecodingConfigFromParams: an empty value or the template placeholder means 'not configured'."""
    return value == "" or value == PLACEHOLDER.format(name=name)


# --- tensors ---------------------------------------------------------------------------------------
# Dims exclude the batch dimension (the template sets max_batch_size). reshape None: none declared.
# dtypes is a tuple: the template leaves some as ${...} (logits and table dtypes).


@dataclass(frozen=True)
class Tensor:
    name: str
    dtypes: tuple[str, ...]
    dims: tuple[int, ...]
    reshape: tuple[int, ...] | None = None
    optional: bool = True
    ragged: bool = False


I32, I64, U64, F32, BOOL, U8 = (
    ("TYPE_INT32",),
    ("TYPE_INT64",),
    ("TYPE_UINT64",),
    ("TYPE_FP32",),
    ("TYPE_BOOL",),
    ("TYPE_UINT8",),
)
FLOAT_ANY = ("TYPE_FP32", "TYPE_FP16", "TYPE_BF16")
S = ()  # reshape to a scalar


def _scalars(dtype: tuple[str, ...], *names: str) -> tuple[Tensor, ...]:
    return tuple(Tensor(n, dtype, (1,), S) for n in names)


def _ragged(dtype: tuple[str, ...], dims: tuple[int, ...], *names: str) -> tuple[Tensor, ...]:
    return tuple(Tensor(n, dtype, dims, None, True, True) for n in names)


INPUTS_SOURCE = (TEMPLATE, UTILS_CC)
INPUTS = {
    t.name: t
    for t in (
        Tensor(
            "input_ids", I32, (-1,), None, True, True
        ),  # optional in the template; decoder-only models need it
        Tensor("input_lengths", I32, (1,), S, False),
        Tensor("request_output_len", I32, (1,), S, False),
        *_ragged(FLOAT_ANY, (-1, -1), "encoder_input_features", "draft_logits", "prompt_embedding_table"),
        *_scalars(
            I32,
            "encoder_output_lengths",
            "num_return_sequences",
            "decoder_input_lengths",
            "end_id",
            "pad_id",
            "beam_width",
            "runtime_top_k",
            "runtime_top_p_reset_ids",
            "min_tokens",
            "prompt_vocab_size",
        ),
        *_ragged(
            I32,
            (-1,),
            "draft_input_ids",
            "decoder_input_ids",
            "retention_token_range_starts",
            "retention_token_range_ends",
            "retention_token_range_priorities",
            "retention_token_range_durations_ms",
        ),
        *_scalars(
            F32,
            "draft_acceptance_threshold",
            "temperature",
            "runtime_top_p",
            "runtime_top_p_min",
            "runtime_top_p_decay",
            "len_penalty",
            "repetition_penalty",
            "beam_search_diversity_rate",
            "presence_penalty",
            "frequency_penalty",
        ),
        *_ragged(I32, (2, -1), "stop_words_list", "bad_words_list"),
        *_ragged(F32, (-1,), "embedding_bias"),
        *_scalars(
            BOOL,
            "early_stopping",
            "return_log_probs",
            "return_context_logits",
            "return_generation_logits",
            "return_perf_metrics",
            "return_num_input_tokens",
            "return_num_output_tokens",
            "exclude_input_in_output",
            "stop",
            "streaming",
        ),
        *_scalars(U64, "seed", "lora_task_id"),
        *_ragged(U64, (-1,), "prompt_table_extra_ids"),
        *_ragged(BOOL, (-1, -1), "cross_attention_mask"),
        Tensor("mrope_rotary_cos_sin", F32, (-1,)),
        Tensor("mrope_position_deltas", I64, (1,)),
        *_ragged(("TYPE_FP16",), (-1, -1), "lora_weights"),
        *_ragged(I32, (-1, 3), "lora_config"),
        *_ragged(U8, (-1,), "context_phase_params"),
        *_ragged(BOOL, (1,), "skip_cross_attn_blocks"),
        *_ragged(
            I32,
            (1,),
            "retention_decode_priority",
            "retention_decode_duration_ms",
            "lookahead_window_size",
            "lookahead_ngram_size",
            "lookahead_verification_set_size",
        ),
        *_ragged(("TYPE_STRING",), (1,), "guided_decoding_guide_type", "guided_decoding_guide"),
    )
}
# Without these a request fails: "input_ids or encoder_input_features is not present in the request." /
# "request_output_len is not present in the request" (utils.cc createRequestsFromInputTensors).
REQUEST_NEEDS = ("input_ids", "request_output_len")
# Read with getRequestBooleanInputTensor (first element, any shape), not through readInputsTensors.
CONTROL_INPUTS = ("stop", "streaming")


@dataclass(frozen=True)
class Output:
    name: str
    dtypes: tuple[str, ...]
    dims: tuple[int, ...]  # as declared (no batch dim); the response tensor is [1, *dims]
    flag: str | None  # request input that turns it on (None: always)
    needs_request: bool  # written only when the request asks for this output by name
    when: str


PERF_METRICS = (
    "kv_cache_alloc_new_blocks",
    "kv_cache_reused_blocks",
    "kv_cache_alloc_total_blocks",
    "arrival_time_ns",
    "first_scheduled_time_ns",
    "first_token_time_ns",
    "last_token_time_ns",
    "acceptance_rate",
    "total_accepted_draft_tokens",
    "total_draft_tokens",
)  # processStats order
_PERF_TYPES = (I32, I32, I32, I64, I64, I64, I64, F32, I32, I32)
OUTPUTS_SOURCE = (TEMPLATE, *FILL, *RESPONSE_BUFFER, *CORE_ADD_OUTPUT)
OUTPUTS = {
    o.name: o
    for o in (
        Output(
            "output_ids", I32, (-1, -1), None, True, "every response; [1, beams, len], rows padded with -1"
        ),
        Output(
            "sequence_length",
            I32,
            (-1,),
            None,
            True,
            "every response; [1, beams]: tokens in this response's rows",
        ),
        Output("cum_log_probs", F32, (-1,), "return_log_probs", True, "[1, beams]"),
        Output("output_log_probs", F32, (-1, -1), "return_log_probs", True, "[1, beams, len]"),
        Output(
            "context_logits", FLOAT_ANY, (-1, -1), "return_context_logits", True, "[1, prompt_len, vocab]"
        ),
        Output(
            "generation_logits",
            FLOAT_ANY,
            (-1, -1, -1),
            "return_generation_logits",
            True,
            "[1, beams, len, vocab]",
        ),
        Output("batch_index", I32, (1,), None, True, "[1, 1], only when the Triton request's batch size > 1"),
        Output("sequence_index", I32, (1,), None, True, "[1, 1], only when num_return_sequences > 1"),
        Output("context_phase_params", U8, (-1,), None, False, "request parameter request_type=context_only"),
        *(
            Output(n, t, (1,), "return_perf_metrics", False, "[1, 1] on every response")
            for n, t in zip(PERF_METRICS, _PERF_TYPES, strict=True)
        ),
        Output(
            "num_input_tokens",
            I32,
            (1,),
            "return_num_input_tokens",
            True,
            "[1, 1] (1.2 only): the prompt's length (fillTritonResponse, inputTokensSize)",
        ),
        Output(
            "num_output_tokens",
            I32,
            (1,),
            "return_num_output_tokens",
            True,
            "[1, 1] (1.2 only): the tokens in this response's output_ids over all beams (outputTokensSize)",
        ),
    )
}
# An output written but not declared: Triton's AddOutput fails, getResponseBuffer throws, and the response
# is sent as this error (isFinal) instead of data; output_ids/sequence_length not requested: same, with
# "<name> tensor must be present in list of output tensors".
UNDECLARED_OUTPUT_ERROR = (
    "Error encountered while populating response: Could not get response output for output "
    "tensor {name}: unexpected inference output '{name}' for model '{model}'"
)
NOT_REQUESTED_ERROR = (
    "Error encountered while populating response: {name} tensor must be present in list of output tensors"
)


def outputs_written(flags: dict, requested: set[str] | frozenset[str] | None = None) -> set[str]:
    """Outputs one data response carries, given the request's flag inputs and the outputs it requested.

    flags: return_* booleans, num_return_sequences, batch_size (of the Triton request), request_type.
    requested: output names the request asks for (an ensemble step asks for its output_map keys);
    None means every output. Raises ValueError with the backend's message if output_ids or
    sequence_length is not requested (every response would then be that error).
    """
    asked = set(OUTPUTS) if requested is None else set(requested)
    for name in ("output_ids", "sequence_length"):
        if name not in asked:
            raise ValueError(NOT_REQUESTED_ERROR.format(name=name))
    written = set()
    for out in OUTPUTS.values():
        if out.needs_request and out.name not in asked:
            continue
        if out.flag is not None and not flags.get(out.flag, False):
            continue
        if out.name == "batch_index" and int(flags.get("batch_size", 1)) <= 1:
            continue
        if out.name == "sequence_index" and int(flags.get("num_return_sequences", 1)) <= 1:
            continue
        if out.name == "context_phase_params" and flags.get("request_type") != "context_only":
            continue
        written.add(out.name)
    return written


# --- framing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    text: str
    sources: tuple[Source, ...]


STREAMING_NEW_TOKENS_ONLY = Rule(
    "Streaming: each response carries only the tokens generated since the previous one (beam_width 1); the "
    "prompt is never included, whatever exclude_input_in_output says.",
    (CREATE_RESULT, *FILL),
)
FINAL_FLAG = Rule(
    "The executor's last result (isFinal) is sent as a data response with TRITONSERVER_RESPONSE_COMPLETE_FINAL; "
    "the backend never sends a flags-only final response for a generation request. With a Triton request of "
    "batch > 1 (or num_return_sequences > 1) each item's responses share one factory and only the response "
    "that finishes the last pending item carries FINAL.",
    (*WAIT, *FILL),
)
ZERO_TOKEN_FINAL = Rule(
    "Streaming: a request that ends on end_id gets a final response with no new tokens, output_ids [1, 1, 0] and "
    "sequence_length [[0]]: the sampler does not advance the sequence length for the end token, updateRequests "
    "adds no token, and createResult still sends a result once the request is finished. One that ends on "
    "request_output_len carries its last token in the final response. (A cancelled request's final result goes "
    "through the same createResult; the executor's cancel path itself was not read.)",
    (UPDATE_REQUESTS, CREATE_RESULT, *FILL),
)
NON_STREAMING_ONE_RESPONSE = Rule(
    "Non-streaming: one response per sequence, carrying all tokens; the prompt first unless "
    "exclude_input_in_output (request input, else the parameter) is true.",
    (CREATE_RESULT, UTILS_CC),
)
OUTPUT_IDS_SHAPE = Rule(
    "output_ids is INT32 [1, beams, max_len] (beams = returned beams, 1 without beam search), shorter rows padded "
    "with -1; sequence_length is INT32 [1, beams] and holds each row's token count in THIS response (new tokens "
    "when streaming, the full output otherwise), not a running total.",
    FILL,
)
DECOUPLED_NEEDED = Rule(
    "Not decoupled: a streaming request fails with 'Streaming is only supported if model is deployed using "
    "decoupled mode.' and a batch > 1 request with 'Batch size > 1 requires the tensorrt_llm backend to be using "
    "decoupled transaction policy'.",
    (UTILS_CC,),
)
ERRORS_ARE_FINAL = Rule(
    "An executor error or a failure filling the response is sent as an error response with FINAL set "
    "('Executor failed process requestId …' / 'Error encountered while populating response: …'); a request that "
    "fails before enqueueing gets one output-less FINAL response carrying the error.",
    (*FILL, _mis("enqueue")),
)
STOP_INPUT = Rule(
    "A request with input stop=true is not generated: the backend cancels the executor requests of the Triton "
    "request with the same request id ('Trying to stop a request but request ID is not provided' otherwise) and "
    "answers the stop request itself with one output-less FINAL response.",
    (_mis("handleStopRequest"), _old("model_instance_state.cc", 871)),
)
CANCELLATION = Rule(
    "Every cancellation_check_period_ms (default 100) a thread asks TRITONBACKEND_ResponseFactoryIsCancelled for "
    "every active request and calls Executor::cancelRequest (the executor's handling after that was not read).",
    (_mis("WaitForCancel"), _old("model_instance_state.cc", 1518)),
)
ARRIVAL_TIME = Rule(
    "arrival_time_ns is a std::chrono::steady_clock time point as ns since that clock's epoch (CLOCK_MONOTONIC on "
    "Linux: since boot, not Unix time). It is set only with return_perf_metrics, in GenericLlmRequest::initialize "
    "when the executor builds the LlmRequest: the arrival time the executor::Request carries, else "
    "getSteadyClockNow(); the Triton backend sets none itself. It is a clock reading, not an id: nothing makes it "
    "unique. Two requests initialized within one clock tick get equal values, and the sibling sequences of "
    "num_return_sequences > 1 are copies of one LlmRequest (createChildRequest) and share it.",
    (
        *ARRIVAL,
        Source(
            TRTLLM,
            "cpp/tensorrt_llm/batch_manager/llmRequest.cpp",
            "119c6e60e65e5ecec4e97afdb6ea584f674aed24",
            "LlmRequest::createChildRequest (copy of *this)",
        ),
    ),
)
EXECUTOR_QUEUE = Rule(
    "The executor's queue bound is the model config's dynamic_batching.default_queue_policy.max_queue_size (no "
    "bound without it): requests leave Triton's queue as soon as execute() takes them, so that bound is what "
    "refuses overload, with 'Maximum queue size of N has been reached, please try again later'.",
    (_old("model_instance_state.cc", 659, "getExecutorConfig maxQueueSize"),),
)
FRAMING = (
    STREAMING_NEW_TOKENS_ONLY,
    FINAL_FLAG,
    ZERO_TOKEN_FINAL,
    NON_STREAMING_ONE_RESPONSE,
    OUTPUT_IDS_SHAPE,
    DECOUPLED_NEEDED,
    ERRORS_ARE_FINAL,
    STOP_INPUT,
    CANCELLATION,
    ARRIVAL_TIME,
)


def response_tokens(
    prompt: list[int],
    generated: list[int],
    *,
    streaming: bool,
    exclude_input_in_output: bool,
    already_sent: int = 0,
) -> list[int]:
    """The token row of one response (beam_width 1): what createResult puts in outputTokenIds.

    generated excludes the end token; already_sent is how many generated tokens earlier responses carried.
    """
    if streaming:
        return list(generated[already_sent:])
    return list(generated) if exclude_input_in_output else list(prompt) + list(generated)
