"""Triton adapter for the CPU engine step (decoupled). Logic lives in python_backend/engine/
(the engine) and python_backend/triton_io/ (requests, responses, metrics).

I/O is TensorRT-LLM's `tensorrt_llm` contract: inputs input_ids INT32[-1], input_lengths,
request_output_len INT32[1]; optional end_id, pad_id, stop_words_list / bad_words_list
INT32[2,-1] (bad words: a sequence is never completed), embedding_bias FP32[vocab] (added to the logits;
empty: none), runtime_top_k, runtime_top_p, temperature, repetition_penalty, presence_penalty,
frequency_penalty, min_tokens, seed UINT64, streaming BOOL, exclude_input_in_output BOOL,
return_perf_metrics BOOL (all ten perf outputs; arrival_time_ns and kv_cache_reused_blocks come always), stop BOOL,
guided_decoding_guide_type / guided_decoding_guide STRING (python_backend/contract/guides.py; on when
the parameter xgrammar_tokenizer_info_path names the tokenizer-info file, as on the GPU backend),
beam_width INT32 and len_penalty FP32 (only 1 / 1.0: refused otherwise), num_return_sequences INT32
(1-16 sibling sequences of the prompt; sibling i samples with seed + i when a seed is given),
return_log_probs BOOL, return_generation_logits / return_context_logits BOOL (at most 256 tokens:
contract/limits.py),
return_num_input_tokens / return_num_output_tokens BOOL.
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
Responses: streaming → the first token at once, then one response per `stream_interval` tokens
(parameter, default 1: one per token), then a final one with the FINAL flag (tokens: 0 unless some were
still held back); otherwise one response with every token and the FINAL flag. Errors: INVALID_ARG for a bad
request, UNAVAILABLE when the engine queue is full (retry later) or the engine has stopped.

execute() only hands requests to the engine thread and returns; a writer thread sends the responses
(python_backend/triton_io/responses.py).
"""

import itertools
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import triton_python_backend_utils as pb_utils

from python_backend.contract.errors import InputError
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine, QueueFullError
from python_backend.triton_io import cancel_channel, logs
from python_backend.triton_io import requests as req
from python_backend.triton_io.metrics import EngineMetrics
from python_backend.triton_io.responses import (
    NO_EXTRAS,
    ArrivalClock,
    Asked,
    ResponseStream,
    ResponseWriter,
    Siblings,
)

log = logging.getLogger("triton_llm.engine")


class TritonResponses:
    """python_backend.triton_io.responses.ResponseFactory over pb_utils."""

    final_flag = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL

    def __init__(self, vocab_size):
        self.vocab_size = vocab_size  # generation_logits' last dim, also when a response has no token

    def tokens(self, token_ids, arrival_ns, extras=NO_EXTRAS):
        ids = np.asarray(token_ids, dtype=np.int32).reshape(1, 1, -1)
        tensors = [
            pb_utils.Tensor("output_ids", ids),
            pb_utils.Tensor("sequence_length", np.asarray([[len(token_ids)]], dtype=np.int32)),
        ]
        if extras.perf is not None:  # return_perf_metrics: all ten, in the backend's order
            tensors += [pb_utils.Tensor(name, array) for name, array in extras.perf.arrays().items()]
        else:  # always: postprocessing's key, and the prefix-cache hits (one-token blocks: exact)
            tensors += [
                pb_utils.Tensor("arrival_time_ns", np.asarray([[arrival_ns]], dtype=np.int64)),
                pb_utils.Tensor(
                    "kv_cache_reused_blocks", np.asarray([[extras.cached_tokens]], dtype=np.int32)
                ),
            ]
        # The rest only when asked (sequence_index: num_return_sequences > 1; batch_index: a batch of
        # several prompts), as the backend does.
        for name, value in (
            ("sequence_index", extras.sequence_index),
            ("batch_index", extras.batch_index),
            ("num_input_tokens", extras.num_input_tokens),
            ("num_output_tokens", extras.num_output_tokens),
        ):
            if value is not None:
                tensors.append(pb_utils.Tensor(name, np.asarray([[value]], dtype=np.int32)))
        if extras.logits is not None:  # [1, beam=1, tokens, vocab]
            logits = extras.logits
            rows = np.stack(logits) if logits else np.zeros((0, self.vocab_size), dtype=np.float32)
            tensors.append(
                pb_utils.Tensor("generation_logits", rows.reshape(1, 1, len(logits), self.vocab_size))
            )
        if extras.context_logits is not None:  # [1, prompt, vocab], with a sequence's first response
            tensors.append(pb_utils.Tensor("context_logits", extras.context_logits[None].astype(np.float32)))
        if extras.log_probs is not None:
            tensors += [
                pb_utils.Tensor(
                    "output_log_probs",
                    np.asarray(extras.log_probs.tokens, dtype=np.float32).reshape(1, 1, -1),
                ),
                pb_utils.Tensor(
                    "cum_log_probs", np.asarray([[extras.log_probs.cumulative]], dtype=np.float32)
                ),
            ]
        return pb_utils.InferenceResponse(tensors)

    @staticmethod
    def error(message, code):
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, code))

    def internal_error(self, message):
        return self.error(message, pb_utils.TritonError.INTERNAL)


class _Item(NamedTuple):
    """One batch item of an engine request."""

    prompt_ids: list
    sequences: list  # SamplingParams of each of its num_return_sequences sequences
    exclude_input: bool
    asked: Asked


def _sequence_id(request_id, batch_index, batch_size, index, count):
    """The engine's id of one sequence: the request's, plus [batch item] and /sequence when several."""
    return request_id + (f"[{batch_index}]" if batch_size > 1 else "") + (f"/{index}" if count > 1 else "")


class TritonPythonModel:
    def initialize(self, args):
        params = req.model_parameters(args)
        logs.configure(params.get("log_level", "INFO"))
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.metrics = EngineMetrics(pb_utils, args["model_name"])
        self._metrics_due = 0.0
        info = params.get("xgrammar_tokenizer_info_path", "")
        self.engine = LLMEngine(
            EngineConfig.from_parameters(params),
            version_dir / params.get("onnx_dir", "onnx"),
            step_observer=self._observe_step,
            on_fatal=self._exit_stub,
            tokenizer_info_path=version_dir / info if info else None,
        )
        self.exclude_input_default = params.get("exclude_input_in_output", "true") == "true"
        self.responses = TritonResponses(self.engine.runner.shape.vocab_size)
        self.writer = ResponseWriter()
        self.ids = itertools.count()
        self.arrivals = ArrivalClock()
        self.running = {}  # arrival_time_ns → the request's engine request ids, for stop requests
        self.engine.start()
        try:
            self.cancel_listener = cancel_channel.CancelListener(self._stop_stream, cancel_channel.address())
        except OSError as exc:  # a second engine instance in this server: the channel is taken
            log.warning(
                "postprocessing cannot stop this instance's streams (%s); run one engine instance", exc
            )
            self.cancel_listener = None

    def _observe_step(self, plan, seconds):
        # Gauges and counters go to Triton through IPC: four updates a second is plenty for a
        # scrape interval of seconds, and keeps the per-step cost off the engine loop.
        now = time.monotonic()
        if now >= self._metrics_due or self.engine.idle:  # the last update before idling is exact
            self._metrics_due = now + 0.25
            self.metrics.update(self.engine.stats())

    @staticmethod
    def _exit_stub(exc):
        """The engine thread died: end this stub process so the failure is visible (Triton answers
        'stub not healthy' and the supervisor in server/ restarts the server) rather than
        rejecting every request from a process that looks alive."""
        log.error("engine thread died (%s); exiting the model process", exc)
        time.sleep(0.5)  # let the error responses already sent leave the process
        os._exit(70)

    def execute(self, requests):
        for request in requests:
            self._submit(request)
        return None

    def _submit(self, request):
        sender = request.get_response_sender()
        get = req.input_getter(pb_utils, request)
        try:
            if req.scalar(req.row_getter(get, 0), "stop", bool, False):
                return self._stop(request, sender)
            rows = req.batch_rows(get, "input_ids")
            items = req.each_row(rows, self._read_row)
            draft_len = req.speculative_draft_len(request.parameters())
            if draft_len is not None:
                items = [
                    item._replace(
                        sequences=[replace(p, speculative_draft_len=draft_len) for p in item.sequences]
                    )
                    for item in items
                ]
            streaming = req.scalar(rows[0], "streaming", bool, False)
            request_id = f"{request.request_id() or 'req'}#{next(self.ids)}"
            # Every sequence of every batch item shares the request's sender: the last to end sends FINAL.
            siblings = Siblings(sum(len(item.sequences) for item in items))
            running = {}  # this request's arrival_time_ns (one per batch item) → its sequence ids
            prompts = []
            for batch_index, item in enumerate(items):
                arrival_ns = self.arrivals.next()
                members = []
                for index, params in enumerate(item.sequences):
                    stream = ResponseStream(
                        sender,
                        self.responses,
                        self.metrics,
                        streaming,
                        [] if item.exclude_input else item.prompt_ids,
                        arrival_ns,
                        lambda _arrival: self._forget(running),
                        item.asked,
                        sequence_index=index if len(item.sequences) > 1 else None,
                        batch_index=batch_index if len(items) > 1 else None,
                        siblings=siblings,
                        stream_interval=self.engine.config.stream_interval,
                    )
                    members.append(
                        (
                            _sequence_id(request_id, batch_index, len(items), index, len(item.sequences)),
                            params,
                            stream.engine_callback(self.writer),
                        )
                    )
                running[arrival_ns] = [member[0] for member in members]
                prompts.append((item.prompt_ids, members))
            self.running.update(running)
            try:
                self.engine.submit_batch(prompts)
            except Exception:
                self._forget(running)
                raise
        except ValueError as exc:  # InputError, or a limit the engine checks
            self._fail(sender, str(exc), pb_utils.TritonError.INVALID_ARG)
        except QueueFullError as exc:
            logs.event(
                log, "request_rejected", logging.WARNING, request_id=request.request_id(), reason=str(exc)
            )
            self._fail(sender, str(exc), pb_utils.TritonError.UNAVAILABLE)
        except RuntimeError as exc:
            logs.event(log, "request_failed", logging.ERROR, request_id=request.request_id(), reason=str(exc))
            self._fail(sender, f"engine unavailable: {exc}", pb_utils.TritonError.UNAVAILABLE)

    def _read_row(self, get):
        """One batch item of an engine request, read and checked (InputError names the input)."""
        prompt = get("input_ids").reshape(-1)
        length = req.scalar(get, "input_lengths", int, prompt.size)
        req.refuse_beam_search(get)
        params = req.sampling_params(
            get,
            req.scalar(get, "request_output_len", int, required=True),
            req.scalar(get, "end_id", int, None),
        )
        asked = Asked(
            params.return_log_probs,
            params.return_generation_logits,
            params.return_context_logits,
            req.scalar(get, "return_num_input_tokens", bool, False),
            req.scalar(get, "return_num_output_tokens", bool, False),
            req.scalar(get, "return_perf_metrics", bool, False),
        )
        return _Item(
            prompt[:length].tolist(),
            req.sibling_params(params, req.num_return_sequences(get)),
            req.scalar(get, "exclude_input_in_output", bool, self.exclude_input_default),
            asked,
        )

    def _forget(self, running):
        for key in running:
            self.running.pop(key, None)

    def _stop(self, request, sender):
        try:
            key = int(request.request_id())
        except ValueError:
            raise InputError(
                f"stop: the request id must be the arrival_time_ns of the request to stop, "
                f"got {request.request_id()!r}"
            ) from None
        self._stop_stream(key)
        sender.send(self.responses.tokens([], key), flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def _stop_stream(self, key):
        targets = self.running.get(key, [])
        stopped = [self.engine.cancel(target) for target in targets]
        logs.event(
            log,
            "stop_requested",
            request_id=targets[0] if targets else None,
            arrival_time_ns=key,
            running=any(stopped),
        )

    def _fail(self, sender, message, code):
        sender.send(self.responses.error(message, code), flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def finalize(self):
        if self.cancel_listener is not None:
            self.cancel_listener.close()
        self.engine.shutdown()
        self.writer.close()
