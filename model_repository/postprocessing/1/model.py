"""Triton adapter for postprocessing (detokenizer). Logic lives in python_backend/detokenizer.py.

Inputs (batch dim first): output_ids INT32[beam, tokens], sequence_length INT32[beam],
arrival_time_ns INT64[1] (the request's key). Outputs: text_output BYTES[1] (the new text of this
engine response: one token's worth when streaming, all of it otherwise) and token_count INT32[1]
(tokens received so far for the request). One response per request; only beam 0 is decoded.

Cancellation (parameter forward_cancellation, set by the CPU assembly): Triton's ensemble does not
cancel a running step; it marks the *next* steps' requests cancelled, i.e. the postprocessing
requests for the engine's following responses. So when a cancelled request arrives here, this model
tells the engine to stop that stream over python_backend/cancel_channel.py (why not a BLS request:
see there). The config must then have no dynamic batcher, which answers cancelled requests itself
before they reach execute().
"""

import time
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from python_backend import cancel_channel
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
        forward = params.get("forward_cancellation", "false") == "true"
        self.cancel_sender = cancel_channel.CancelSender(cancel_channel.address()) if forward else None
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
        # is_cancelled() is an IPC round trip per response; without forwarding (GPU repository, with
        # its dynamic batcher) cancelled requests never get here, so it is not asked.
        if self.cancel_sender is not None and request.is_cancelled():
            if self.streams.cancel(key):
                self.cancel_sender.send(key)
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
        self.metrics.duration.observe(time.perf_counter() - started)
        return pb_utils.InferenceResponse([
            pb_utils.Tensor("text_output", np.asarray([[text.encode("utf-8")]], dtype=np.object_)),
            pb_utils.Tensor("token_count", np.asarray([[count]], dtype=np.int32)),
        ])
