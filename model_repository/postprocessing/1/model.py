"""Triton adapter for postprocessing (detokenizer). Logic lives in python_backend/detokenizer.py.

Inputs (batch dim first): output_ids INT32[beam, tokens], sequence_length INT32[beam],
arrival_time_ns INT64[1] (the request's key). Outputs: text_output BYTES[1] (the new text of this
engine response: one token's worth when streaming, all of it otherwise) and token_count INT32[1]
(tokens received so far for the request). One response per request; only beam 0 is decoded.

Cancellation (parameter forward_cancellation, set by the CPU assembly): Triton's ensemble does not
cancel a running step; it marks the *next* steps' requests cancelled, i.e. the postprocessing
requests for the engine's following responses. So when a cancelled request arrives here, this model
tells the engine to stop that stream: a `stop` request to `engine` whose request id is the stream's
arrival_time_ns (see model_repository/engine). The config must then have no dynamic batcher, which
answers cancelled requests itself before they reach execute().
"""

import time
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from python_backend import requests as req
from python_backend.detokenizer import DetokenizerStore
from python_backend.metrics import CodecMetrics
from python_backend.tokenizer import load_tokenizer


class TritonPythonModel:
    def initialize(self, args):
        params = req.model_parameters(args)
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.tokenizer = load_tokenizer(version_dir / params.get("tokenizer_dir", "tokenizer"),
                                        trust_remote_code=params.get("trust_remote_code", "false") == "true")
        self.streams = DetokenizerStore(self.tokenizer, capacity=int(params.get("max_streams", "65536")))
        self.forward_cancellation = params.get("forward_cancellation", "false") == "true"
        self.engine_model = params.get("engine_model", "engine")
        self.metrics = CodecMetrics(pb_utils, "triton_llm_detokenize_duration_seconds",
                                    "Time to detokenize one engine response")

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        started = time.perf_counter()
        get = req.input_getter(pb_utils, request)
        output_ids = get("output_ids")  # [batch=1, beam, tokens]; beam 0 is decoded
        length = int(get("sequence_length").reshape(-1)[0])
        tokens = output_ids[(0,) * (output_ids.ndim - 1)][:length].tolist()
        key = int(get("arrival_time_ns").reshape(-1)[0])
        if request.is_cancelled():
            if self.streams.cancel(key) and self.forward_cancellation:
                self._stop_engine_stream(key)
            return pb_utils.InferenceResponse(error=pb_utils.TritonError("request cancelled",
                                                                         pb_utils.TritonError.CANCELLED))
        state = self.streams.get(key)
        text = state.step(tokens)
        count = state.num_tokens
        if not tokens:  # the CPU engine ends every stream with an empty response
            self.streams.pop(key)
        self.metrics.duration.observe(time.perf_counter() - started)
        return pb_utils.InferenceResponse([
            pb_utils.Tensor("text_output", np.asarray([[text.encode("utf-8")]], dtype=np.object_)),
            pb_utils.Tensor("token_count", np.asarray([[count]], dtype=np.int32)),
        ])

    def _stop_engine_stream(self, key):
        # The engine's required inputs must be present for Triton to accept the request; a stop
        # request's engine ignores them.
        one = np.ones((1, 1), dtype=np.int32)
        inputs = [pb_utils.Tensor("stop", np.ones((1, 1), dtype=np.bool_)), pb_utils.Tensor("input_ids", one),
                  pb_utils.Tensor("input_lengths", one), pb_utils.Tensor("request_output_len", one)]
        stop = pb_utils.InferenceRequest(model_name=self.engine_model, request_id=str(key), inputs=inputs,
                                         requested_output_names=["sequence_length"])
        for response in stop.exec(decoupled=True):  # one final response; an error if the engine refused
            if response.has_error():
                pb_utils.Logger.log_warn(f"stopping engine stream {key}: {response.error().message()}")
