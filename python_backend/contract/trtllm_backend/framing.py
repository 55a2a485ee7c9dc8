"""How the `tensorrtllm` backend frames its responses and handles stop, cancellation and overload.

Each rule is a sentence a test or the emulator holds to, with the sources it was read from.
`response_tokens` is the one rule stated as code: the token row of a response.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sources import (
    ARRIVAL,
    CREATE_RESULT,
    FILL,
    TRTLLM,
    UPDATE_REQUESTS,
    UTILS_CC,
    WAIT,
    Source,
    backend_c2e,
    model_instance_state,
)


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
    "The executor's last result (isFinal) is sent as a data response with "
    "TRITONSERVER_RESPONSE_COMPLETE_FINAL; the backend never sends a flags-only final response for a "
    "generation request. With a Triton request of batch > 1 (or num_return_sequences > 1) each item's "
    "responses share one factory and only the response that finishes the last pending item carries FINAL.",
    (*WAIT, *FILL),
)
ZERO_TOKEN_FINAL = Rule(
    "Streaming: a request that ends on end_id gets a final response with no new tokens, output_ids [1, 1, 0]"
    " and sequence_length [[0]]: the sampler does not advance the sequence length for the end token, "
    "updateRequests adds no token, and createResult still sends a result once the request is finished. One "
    "that ends on request_output_len carries its last token in the final response. (A cancelled request's "
    "final result goes through the same createResult; the executor's cancel path itself was not read.)",
    (UPDATE_REQUESTS, CREATE_RESULT, *FILL),
)
NON_STREAMING_ONE_RESPONSE = Rule(
    "Non-streaming: one response per sequence, carrying all tokens; the prompt first unless "
    "exclude_input_in_output (request input, else the parameter) is true.",
    (CREATE_RESULT, UTILS_CC),
)
OUTPUT_IDS_SHAPE = Rule(
    "output_ids is INT32 [1, beams, max_len] (beams = returned beams, 1 without beam search), shorter rows "
    "padded with -1; sequence_length is INT32 [1, beams] and holds each row's token count in THIS response "
    "(new tokens when streaming, the full output otherwise), not a running total.",
    FILL,
)
DECOUPLED_NEEDED = Rule(
    "Not decoupled: a streaming request fails with 'Streaming is only supported if model is deployed using "
    "decoupled mode.' and a batch > 1 request with 'Batch size > 1 requires the tensorrt_llm backend to be "
    "using decoupled transaction policy'.",
    (UTILS_CC,),
)
ERRORS_ARE_FINAL = Rule(
    "An executor error or a failure filling the response is sent as an error response with FINAL set "
    "('Executor failed process requestId …' / 'Error encountered while populating response: …'); a request "
    "that fails before enqueueing gets one output-less FINAL response carrying the error.",
    (*FILL, model_instance_state("enqueue")),
)
STOP_INPUT = Rule(
    "A request with input stop=true is not generated: the backend cancels the executor requests of the "
    "Triton request with the same request id ('Trying to stop a request but request ID is not provided' "
    "otherwise) and answers the stop request itself with one output-less FINAL response.",
    (model_instance_state("handleStopRequest"), backend_c2e("model_instance_state.cc", 871)),
)
CANCELLATION = Rule(
    "Every cancellation_check_period_ms (default 100) a thread asks TRITONBACKEND_ResponseFactoryIsCancelled"
    " for every active request and calls Executor::cancelRequest (the executor's handling after that was not"
    " read).",
    (model_instance_state("WaitForCancel"), backend_c2e("model_instance_state.cc", 1518)),
)
ARRIVAL_TIME = Rule(
    "arrival_time_ns is a std::chrono::steady_clock time point as ns since that clock's epoch "
    "(CLOCK_MONOTONIC on Linux: since boot, not Unix time). It is set only with return_perf_metrics, in "
    "GenericLlmRequest::initialize when the executor builds the LlmRequest: the arrival time the "
    "executor::Request carries, else getSteadyClockNow(); the Triton backend sets none itself. It is a clock"
    " reading, not an id: nothing makes it unique. Two requests initialized within one clock tick get equal "
    "values, and the sibling sequences of num_return_sequences > 1 are copies of one LlmRequest "
    "(createChildRequest) and share it.",
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
    "The executor's queue bound is the model config's dynamic_batching.default_queue_policy.max_queue_size "
    "(no bound without it): requests leave Triton's queue as soon as execute() takes them, so that bound is "
    "what refuses overload, with 'Maximum queue size of N has been reached, please try again later'.",
    (backend_c2e("model_instance_state.cc", 659, "getExecutorConfig maxQueueSize"),),
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
