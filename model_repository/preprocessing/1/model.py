"""Triton adapter for preprocessing (tokenizer). Logic lives in python_backend/tokenizer.py.

Inputs (batch dim first): text_input BYTES[1], max_tokens INT32[1]; optional stop_words /
bad_words BYTES[-1], end_id / pad_id INT32[1], apply_chat_template BOOL[1].
Outputs: input_ids INT32[-1], input_lengths INT32[1], request_output_len INT32[1],
stop_words_list / bad_words_list INT32[2,-1] (TensorRT-LLM word-list format), out_end_id,
out_pad_id INT32[1], return_perf_metrics BOOL[1] (always true). One response per request; a bad request gets an
INVALID_ARG error naming the field and limit.
"""

import time
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from python_backend import requests as req
from python_backend.metrics import CodecMetrics
from python_backend.tokenizer import InputError, Preprocessor, to_word_list


class TritonPythonModel:
    def initialize(self, args):
        params = req.model_parameters(args)
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.pre = Preprocessor(
            version_dir / params.get("tokenizer_dir", "tokenizer"),
            max_context_len=int(params["max_seq_len"]),
            max_stop_words=int(params.get("max_stop_words", "32")),
            max_text_bytes=int(params.get("max_text_bytes", "65536")),
            trust_remote_code=params.get("trust_remote_code", "false") == "true",
        )
        self.metrics = CodecMetrics(pb_utils, "triton_llm_tokenize_duration_seconds", "Time to tokenize one request")

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        started = time.perf_counter()
        get = req.input_getter(pb_utils, request)
        try:
            req.refuse_request_parameters(request.parameters())
            text = req.scalar(get, "text_input", str, required=True)
            ids = self.pre.encode(text, req.scalar(get, "apply_chat_template", bool, False))
            max_tokens = req.scalar(get, "max_tokens", int, required=True)
            self.pre.check_max_tokens(max_tokens, len(ids))
            end_id = req.scalar(get, "end_id", int, self.pre.end_ids[0])
            pad_id = req.scalar(get, "pad_id", int, self.pre.pad_id)
            stop = self.pre.stop_sequences(req.strings(get, "stop_words"), end_id)
            bad = self.pre.word_sequences(req.strings(get, "bad_words"), "bad_words")
        except InputError as exc:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc), pb_utils.TritonError.INVALID_ARG))
        outputs = {
            "input_ids": np.asarray([ids], dtype=np.int32),
            "input_lengths": np.asarray([[len(ids)]], dtype=np.int32),
            "request_output_len": np.asarray([[max_tokens]], dtype=np.int32),
            "stop_words_list": to_word_list(stop)[None],
            "bad_words_list": to_word_list(bad)[None],
            "out_end_id": np.asarray([[end_id]], dtype=np.int32),
            "out_pad_id": np.asarray([[pad_id]], dtype=np.int32),
            "return_perf_metrics": np.asarray([[True]], dtype=np.bool_),
        }
        self.metrics.duration.observe(time.perf_counter() - started)
        return pb_utils.InferenceResponse([pb_utils.Tensor(k, v) for k, v in outputs.items()])
