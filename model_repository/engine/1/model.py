"""Triton adapter for the CPU engine step (decoupled). Logic lives in python_backend/engine.py.

I/O is TensorRT-LLM's `tensorrt_llm` contract: inputs input_ids INT32[-1], input_lengths,
request_output_len INT32[1]; optional end_id, pad_id, stop_words_list / bad_words_list
INT32[2,-1], runtime_top_k, runtime_top_p, temperature, repetition_penalty, presence_penalty,
frequency_penalty, min_tokens, seed UINT64, streaming BOOL, exclude_input_in_output BOOL,
return_perf_metrics BOOL (accepted; arrival_time_ns is always returned), stop BOOL.
A request with stop=true stops the running request whose arrival_time_ns equals this request's
id (TensorRT-LLM's `stop` names its target by request id too) and gets one empty final response.
Postprocessing stops streams whose ensemble request was cancelled through
python_backend/cancel_channel.py, keyed the same way.
Outputs output_ids INT32[beam=1, tokens], sequence_length INT32[1], arrival_time_ns INT64[1]
(unique per request in this process: postprocessing keys its streaming state by it).
Responses: streaming → one per generated token, then a final empty one (tokens: 0) with the FINAL
flag; otherwise one response with every token and the FINAL flag. Errors: INVALID_ARG for a bad
request, UNAVAILABLE when the engine queue is full (retry later) or the engine has stopped.

execute() only hands requests to the engine thread and returns; a writer thread sends the responses.
"""

import itertools
import logging
import os
import queue
import threading
import time
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from python_backend import cancel_channel, logs
from python_backend import requests as req
from python_backend.config import EngineConfig
from python_backend.engine import LLMEngine, QueueFullError
from python_backend.metrics import EngineMetrics
from python_backend.tokenizer import InputError

log = logging.getLogger("triton_llm.engine")


class TritonPythonModel:
    def initialize(self, args):
        params = req.model_parameters(args)
        logs.configure(params.get("log_level", "INFO"))
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.engine = LLMEngine(EngineConfig.from_parameters(params), version_dir / params.get("onnx_dir", "onnx"))
        self.exclude_input_default = params.get("exclude_input_in_output", "true") == "true"
        self.metrics = EngineMetrics(pb_utils, args["model_name"])
        self.engine.step_observer = self._observe_step
        self._metrics_due = 0.0
        self.engine.on_fatal = self._exit_stub
        self.ids = itertools.count()
        self.writer = queue.Queue()
        self._writer_thread = threading.Thread(target=self._write_loop, name="response-writer", daemon=True)
        self._writer_thread.start()
        self.running = {}  # arrival_time_ns → engine request id, for stop requests
        self._last_arrival = 0
        self._arrival_lock = threading.Lock()
        self.engine.start()
        try:
            self.cancel_listener = cancel_channel.CancelListener(self._stop_stream, cancel_channel.address())
        except OSError as exc:  # a second engine instance in this server: the channel is taken
            log.warning("postprocessing cannot stop this instance's streams (%s); run one engine instance", exc)
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
            if req.scalar(get, "stop", bool, False):
                return self._stop(request, sender)
            prompt = get("input_ids")
            if prompt is None:
                raise InputError("input_ids: required input is missing")
            length = req.scalar(get, "input_lengths", int, prompt.size)
            prompt_ids = prompt.reshape(-1)[:length].tolist()
            end_id = req.scalar(get, "end_id", int, None)
            params = req.sampling_params(get, req.scalar(get, "request_output_len", int, required=True), end_id)
            streaming = req.scalar(get, "streaming", bool, False)
            exclude_input = req.scalar(get, "exclude_input_in_output", bool, self.exclude_input_default)
            request_id = f"{request.request_id() or 'req'}#{next(self.ids)}"
            arrival_ns = self._arrival_ns()
            responder = self._responder(sender, streaming, [] if exclude_input else prompt_ids, arrival_ns)
            self.running[arrival_ns] = request_id
            try:
                self.engine.submit(request_id, prompt_ids, params, responder)
            except Exception:
                self.running.pop(arrival_ns, None)
                raise
        except (InputError, ValueError) as exc:
            self._fail(sender, str(exc), pb_utils.TritonError.INVALID_ARG)
        except QueueFullError as exc:
            logs.event(log, "request_rejected", logging.WARNING, request_id=request.request_id(), reason=str(exc))
            self._fail(sender, str(exc), pb_utils.TritonError.UNAVAILABLE)
        except RuntimeError as exc:
            logs.event(log, "request_failed", logging.ERROR, request_id=request.request_id(), reason=str(exc))
            self._fail(sender, f"engine unavailable: {exc}", pb_utils.TritonError.UNAVAILABLE)

    def _stop(self, request, sender):
        try:
            key = int(request.request_id())
        except ValueError:
            raise InputError(f"stop: the request id must be the arrival_time_ns of the request to stop, "
                             f"got {request.request_id()!r}") from None
        self._stop_stream(key)
        sender.send(self._response([], key), flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def _stop_stream(self, key):
        target = self.running.get(key)
        stopped = target is not None and self.engine.cancel(target)
        logs.event(log, "stop_requested", request_id=target, arrival_time_ns=key, running=stopped)

    def _arrival_ns(self):
        """Wall-clock arrival in ns, strictly increasing so it is unique per request."""
        with self._arrival_lock:
            self._last_arrival = max(time.time_ns(), self._last_arrival + 1)
            return self._last_arrival

    @staticmethod
    def _fail(sender, message, code):
        sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(message, code)),
                    flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def _responder(self, sender, streaming, prefix, arrival_ns):
        """The engine-thread callback of one request: note the time, queue the output for the
        writer thread, and return False (cancel) once the writer saw the client go away."""
        stream = _Stream(self, sender, streaming, list(prefix), arrival_ns)

        def respond(out):
            self.writer.put((stream, out, time.monotonic()))
            return out.finished or not stream.cancelled

        return respond

    @staticmethod
    def _response(tokens, arrival_ns):
        ids = np.asarray(tokens, dtype=np.int32).reshape(1, 1, -1)
        return pb_utils.InferenceResponse([
            pb_utils.Tensor("output_ids", ids),
            pb_utils.Tensor("sequence_length", np.asarray([[len(tokens)]], dtype=np.int32)),
            pb_utils.Tensor("arrival_time_ns", np.asarray([[arrival_ns]], dtype=np.int64)),
        ])

    def finalize(self):
        if self.cancel_listener is not None:
            self.cancel_listener.close()
        self.engine.shutdown()
        self.writer.put(None)
        self._writer_thread.join(5)

    def _write_loop(self):
        """Sends responses off the engine thread: each send and cancellation check is an IPC
        round trip to Triton, which would otherwise stall every stream's next step. One thread,
        FIFO, so the responses of a request keep their order."""
        while (item := self.writer.get()) is not None:
            stream, out, at = item
            try:
                stream.write(out, at)
            except Exception:  # a broken client must not stop the writer for everyone else
                log.exception("sending a response of %s failed", out.request_id)
                stream.cancelled = True


class _Stream:
    """One request's response side: metrics, the structured log line, sends, cancellation."""

    def __init__(self, model, sender, streaming, collected, arrival_ns):
        self.model, self.sender, self.streaming = model, sender, streaming
        self.collected, self.arrival_ns = collected, arrival_ns
        self.arrival = time.monotonic()
        self.first = self.last = None
        self.cancelled = False

    def write(self, out, at):
        metrics = self.model.metrics
        if out.new_token_ids:
            if self.last is None:
                self.first = at
                metrics.ttft.observe(at - self.arrival)
            else:
                metrics.itl.observe(at - self.last)
            self.last = at
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        if out.finished:
            self.model.running.pop(self.arrival_ns, None)
            logs.event(log, "request_finished", request_id=out.request_id,
                       prompt_tokens=out.num_prompt_tokens, cached_prompt_tokens=out.num_cached_tokens,
                       reason=out.finish_reason.value if out.finish_reason else None,
                       ttft_s=round(self.first - self.arrival, 4) if self.first else None,
                       e2e_s=round(at - self.arrival, 4), streaming=self.streaming)
            if out.finish_reason is not None and out.finish_reason.value == "error":
                self.model._fail(self.sender, "engine failed while generating; see server log",
                                 pb_utils.TritonError.INTERNAL)
                return
        if self.streaming:
            if out.new_token_ids or out.finished:
                self.sender.send(self.model._response(out.new_token_ids, self.arrival_ns),
                                 flags=final if out.finished else 0)
        else:
            self.collected.extend(out.new_token_ids)
            if out.finished:
                self.sender.send(self.model._response(self.collected, self.arrival_ns), flags=final)
        if not out.finished and not self.cancelled:
            self.cancelled = self.sender.is_cancelled()
