"""Triton adapter for the CPU engine step (decoupled). Logic lives in python_backend/engine/
(the engine) and python_backend/triton_io/engine_frontend.py (requests, stops, errors), which
unit-tests without Triton; parameters: triton_io/model_configs.py EngineModelConfig.

I/O is TensorRT-LLM's `tensorrt_llm` contract: inputs input_ids INT32[-1], input_lengths,
request_output_len INT32[1]; optional end_id, pad_id, stop_words_list / bad_words_list
INT32[2,-1] (bad words: a sequence is never completed), embedding_bias FP32[vocab] (added to the logits;
empty: none), runtime_top_k, runtime_top_p, temperature, repetition_penalty, presence_penalty,
frequency_penalty, min_tokens, seed UINT64, streaming BOOL, exclude_input_in_output BOOL,
return_perf_metrics BOOL (all ten perf outputs; arrival_time_ns and kv_cache_reused_blocks come
always), stop BOOL, guided_decoding_guide_type / guided_decoding_guide STRING
(python_backend/contract/guides.py; on when the parameter xgrammar_tokenizer_info_path names the
tokenizer-info file, as on the GPU backend), beam_width INT32 and len_penalty FP32 (only 1 / 1.0:
refused otherwise), num_return_sequences INT32 (1-16 sibling sequences of the prompt; sibling i
samples with seed + i when a seed is given), return_log_probs BOOL, return_generation_logits /
return_context_logits BOOL (at most 256 tokens: contract/limits.py), return_num_input_tokens /
return_num_output_tokens BOOL, lora_name STRING (a LoRA adapter of the adapter directory, the parameter
lora_dir: loaded on first use, python_backend/triton_io/engine_lora.py; NOT_FOUND when it is not there),
lora_task_id UINT64, lora_weights FP16[-1,-1], lora_config INT32[-1,3] (tensorrtllm_backend's).
A request with stop=true stops the running request whose arrival_time_ns equals this request's
id (TensorRT-LLM's `stop` names its target by request id too) and gets one empty final response.
Postprocessing stops streams whose ensemble request was cancelled through
python_backend/triton_io/cancel_channel.py, keyed the same way.
A request may hold a batch of prompts (batch dim first, input_ids padded, input_lengths each row's
length): each row is a request of its own to the engine, as TensorRT-LLM splits a batch.
Outputs output_ids INT32[beam=1, tokens], sequence_length INT32[1], arrival_time_ns INT64[1]
(unique per prompt in this process, shared by its sibling sequences: postprocessing keys its
streaming state by it and sequence_index), sequence_index INT32[1] (only when num_return_sequences > 1,
as TensorRT-LLM writes it), batch_index INT32[1] (the row, only for a batch of several prompts, likewise),
kv_cache_reused_blocks INT32[1] (TensorRT-LLM's perf output; this engine's blocks are one token, so it
is the number of prompt tokens taken from the prefix cache); with return_perf_metrics the other
eight perf outputs too (python_backend/contract/perf_metrics.py says how they are counted); with
return_log_probs also output_log_probs FP32[beam=1, tokens] (log softmax of the model's logits at
each token of this response: no temperature, penalty or mask) and cum_log_probs FP32[beam=1] (their
sum over every token generated so far); with return_generation_logits generation_logits
FP32[beam=1, tokens, vocab] (the model's raw logits at each token of this response); with
return_context_logits context_logits FP32[prompt, vocab] on a sequence's first response; with
return_num_input_tokens num_input_tokens INT32[1] (the prompt's length), with return_num_output_tokens
num_output_tokens INT32[1] (the tokens in this response's output_ids, as fillTritonResponse counts them).
Responses: streaming → the first token at once, then (parameter `stream_interval`, default "auto")
everything generated since the last response whenever the response writer is free for the stream (one
token per response while it keeps up), or with stream_interval N one response per N tokens (1: one
per token), then a final one with the FINAL flag (tokens: 0 unless some were still held back);
otherwise one response with every token and the FINAL flag. Errors: INVALID_ARG for a bad
request, NOT_FOUND for an unknown adapter, UNAVAILABLE when the engine queue is full (retry later) or
the engine has stopped.

execute() only hands requests to the engine thread and returns; a writer thread sends the
responses (python_backend/triton_io/responses.py).
"""

import logging
from pathlib import Path

import triton_python_backend_utils as pb_utils

from python_backend.triton_io import logs
from python_backend.triton_io.engine_frontend import EngineFrontend
from python_backend.triton_io.metrics import EngineMetrics
from python_backend.triton_io.model_configs import EngineModelConfig
from python_backend.triton_io.requests import model_parameters
from python_backend.triton_io.stub_exit import exit_stub
from python_backend.triton_io.triton_api import PbRequest, PbResponses

log = logging.getLogger("triton_llm.engine")


class TritonPythonModel:
    def initialize(self, args):
        config = EngineModelConfig.from_parameters(model_parameters(args))
        logs.configure(config.log_level)
        self.frontend = EngineFrontend(
            config,
            Path(args["model_repository"]) / args["model_version"],
            PbResponses(pb_utils),
            EngineMetrics(pb_utils, args["model_name"], lora=bool(config.lora_dir)),
            on_fatal=exit_stub(log),
        ).start()

    def execute(self, requests):
        for request in requests:
            self.frontend.submit(PbRequest(pb_utils, request))
        return None

    def finalize(self):
        self.frontend.close()
