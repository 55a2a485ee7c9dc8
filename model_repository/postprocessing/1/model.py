"""Triton adapter for postprocessing (detokenizer). Logic lives in python_backend/detokenizer.py.

Inputs (batch dim first): output_ids INT32[beam, tokens], sequence_length INT32[beam],
arrival_time_ns INT64[1] (the request's key). Outputs: text_output BYTES[1] (the new text of this
engine response: one token's worth when streaming, all of it otherwise) and token_count INT32[1]
(tokens received so far for the request). One response per request; only beam 0 is decoded.
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
