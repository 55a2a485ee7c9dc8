"""Triton adapter for postprocessing (detokenizer). Logic lives in python_backend/text/detokenizer.py.

Inputs (batch dim first): output_ids INT32[beam, tokens], sequence_length INT32[beam],
arrival_time_ns INT64[1] (the request's key), kv_cache_reused_blocks INT32[1] (TensorRT-LLM's perf
output), optional batch_index / sequence_index INT32[1] (a batch of several prompts, num_return_sequences
> 1: each sequence has its own detokenizer, keyed (arrival_time_ns, batch_index, sequence_index);
siblings share arrival_time_ns), optional kv_cache_alloc_total_blocks INT32[1] (the engine writes it
with return_perf_metrics: its presence says the request asked for the perf outputs).
Outputs: text_output BYTES[1] (the new text of this engine response: one token's worth when
streaming, all of it otherwise), token_count INT32[1] (tokens received so far for the request),
cached_tokens INT32[1] (prompt tokens from the prefix cache: kv_cache_reused_blocks × the parameter
kv_cache_tokens_per_block; exact for our CPU engine, whose blocks are one token, and whole blocks only
for TensorRT-LLM, which reuses full blocks) and, when the request asked for the perf outputs,
out_arrival_time_ns / out_kv_cache_reused_blocks (the two inputs, passed on to the client). One
response per request; only beam 0 is decoded.

Parameters: python_backend/triton_io/model_configs.py PostprocessingConfig (names and defaults;
the assembly writes them).

Cancellation (parameter forward_cancellation, set by each repository's assembly): Triton's ensemble
does not cancel a running step; it marks the *next* steps' requests cancelled, i.e. the
postprocessing requests for the engine's following responses. So when a cancelled request arrives
here, this model tells the engine to stop that stream:
  cancel_channel  our CPU engine, over python_backend/triton_io/cancel_channel.py, by arrival_time_ns;
  engine_stop     a TensorRT-LLM engine, with a `stop` request by the request id
                  (python_backend/triton_io/engine_stop.py);
  none            not at all.
The config has no dynamic batcher: that answers cancelled requests itself, before they reach
execute(), with an error that leaves the ensemble request "in flight" in Triton 2.51 for good.
"""

import time
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from python_backend.text.detokenizer import DetokenizerStore
from python_backend.text.tokenizer import load_tokenizer
from python_backend.triton_io import cancel_channel
from python_backend.triton_io import requests as req
from python_backend.triton_io.engine_stop import EngineStopper
from python_backend.triton_io.metrics import CodecMetrics
from python_backend.triton_io.model_configs import PostprocessingConfig


class TritonPythonModel:
    def initialize(self, args):
        config = PostprocessingConfig.from_parameters(req.model_parameters(args))
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.tokenizer = load_tokenizer(
            version_dir / config.tokenizer_dir, trust_remote_code=config.trust_remote_code
        )
        self.streams = DetokenizerStore(self.tokenizer, capacity=config.max_streams)
        self.forward = _forwarder(config.forward_cancellation)  # None: nobody to tell
        self.tokens_per_block = config.kv_cache_tokens_per_block
        self.metrics = CodecMetrics(
            pb_utils, "triton_llm_detokenize_duration_seconds", "Time to detokenize one engine response"
        )

    def finalize(self):
        self.metrics.close()

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        started = time.perf_counter()
        get = req.input_getter(pb_utils, request)
        output_ids = get("output_ids")  # [batch=1, beam, tokens]; beam 0 is decoded
        length = int(get("sequence_length").reshape(-1)[0])
        tokens = output_ids[(0,) * (output_ids.ndim - 1)][:length].tolist()
        arrival_ns, reused_blocks = get("arrival_time_ns"), get("kv_cache_reused_blocks")
        arrival = int(arrival_ns.reshape(-1)[0])
        key = (arrival, req.scalar(get, "batch_index", int, 0), req.scalar(get, "sequence_index", int, 0))
        cached = int(reused_blocks.reshape(-1)[0]) * self.tokens_per_block
        # is_cancelled() is an IPC round trip per response: asked only when there is someone to tell.
        if self.forward is not None and request.is_cancelled():
            self.streams.pop(key)
            if self.streams.cancel(arrival):  # once per request: the engine stops all its sequences
                self.forward(arrival, request.request_id())
            # The client is gone and Triton has answered it. An error here would leave the ensemble
            # request "in flight" in Triton 2.51 for good (found by running it: every SIGTERM then
            # waited out the whole exit timeout), so the step ends normally, empty.
            text, count = "", 0
        else:
            state = self.streams.get(key)
            text = state.step(tokens)
            count = state.num_tokens
            if not tokens:  # the CPU engine ends every stream with an empty response
                self.streams.pop(key)
        outputs = [
            pb_utils.Tensor("text_output", np.asarray([[text.encode("utf-8")]], dtype=np.object_)),
            pb_utils.Tensor("token_count", np.asarray([[count]], dtype=np.int32)),
            pb_utils.Tensor("cached_tokens", np.asarray([[cached]], dtype=np.int32)),
        ]
        if get("kv_cache_alloc_total_blocks") is not None:  # the request asked for the perf outputs
            outputs += [
                pb_utils.Tensor("out_arrival_time_ns", arrival_ns),
                pb_utils.Tensor("out_kv_cache_reused_blocks", reused_blocks),
            ]
        self.metrics.duration.observe(time.perf_counter() - started)
        return pb_utils.InferenceResponse(outputs)


def _forwarder(how):
    """forward(arrival_time_ns, request_id) that tells the engine to stop a stream, or None."""
    if how == "cancel_channel":  # our CPU engine listens for the arrival time
        sender = cancel_channel.CancelSender(cancel_channel.address())
        return lambda arrival, request_id: sender.send(arrival)
    if how == "engine_stop":  # a TensorRT-LLM engine takes its own stop request, by request id
        stopper = EngineStopper(pb_utils)
        return lambda arrival, request_id: stopper.stop(request_id)
    return None  # "none" (PostprocessingConfig refuses any other value)
