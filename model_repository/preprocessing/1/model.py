"""Triton adapter for preprocessing (tokenizer). Logic lives in python_backend/triton_io/preprocess.py
(request → engine inputs, batches) and python_backend/text/tokenizer.py (text → token ids).

Inputs (batch dim first; a request may hold several rows): text_input BYTES[1] or input_token_ids
INT32[-1] (the prompt as token ids; a batch's shorter rows end in -1), max_tokens INT32[1];
optional stop_words / bad_words BYTES[-1], end_id / pad_id INT32[1], apply_chat_template BOOL[1],
temperature / top_p FP32[1], top_k INT32[1], seed UINT64[1] (the client's sampling inputs),
guided_decoding_guide_type / guided_decoding_guide BYTES[1] (compiled here with xgrammar),
beam_width INT32[1] and length_penalty FP32[1] (checked here: only 1 / 1.0 are served),
num_return_sequences INT32[1] (checked here: 1-16; the engine runs them),
embedding_bias_words BYTES[-1] / embedding_bias_weights FP32[-1] (one weight per word),
logit_bias_token_ids INT32[-1] / logit_bias_values FP32[-1] (one value per token id; added into
embedding_bias with the words' weights),
return_perf_metrics BOOL[1] (passed on; with the parameter always_return_perf_metrics, always true
and `false` refused), return_generation_logits / return_context_logits BOOL[1] (checked here: `true`
is refused when the parameter gather_generation_logits / gather_context_logits is "false", i.e. the
engine was built without the gather flag; the ensemble hands them to the engine itself),
lora_name BYTES[1], lora_task_id UINT64[1], lora_weights FP16[-1,-1], lora_config INT32[-1,3],
lora_send_weights BOOL[1] (python_backend/triton_io/lora_inputs.py: lora_name checked against the
adapter directory, the parameter lora_dir; refused by name when it is empty).
Outputs: input_ids INT32[-1], input_lengths INT32[1], request_output_len INT32[1],
stop_words_list / bad_words_list INT32[2,-1] (TensorRT-LLM word-list format), out_end_id,
out_pad_id INT32[1], out_return_perf_metrics BOOL[1], embedding_bias FP32[-1] (the model's
vocab_size, or empty without any bias: tensorrtllm_backend's preprocessing sends it the same way),
out_temperature / out_runtime_top_p FP32[1], out_runtime_top_k INT32[1], out_seed UINT64[1] (explicit
values meaning python_backend/contract/sampling.py's contract on every engine),
out_guided_decoding_guide_type / out_guided_decoding_guide BYTES[1] (the compiled guide as the engine
should run it, empty strings for none: python_backend/triton_io/guide_check.py),
out_lora_name / out_lora_task_id / out_lora_weights / out_lora_config (only when the request sent them).
One response per request, one row per prompt; a bad request gets an INVALID_ARG error naming the
field and limit (and the batch item, in a batch); an adapter not in the adapter directory gets
NOT_FOUND naming it (HTTP 404). Parameters: python_backend/triton_io/model_configs.py
PreprocessingConfig (names and defaults; the assembly writes them).
"""

import time
from pathlib import Path

import triton_python_backend_utils as pb_utils

from python_backend.contract.errors import InputError, UnknownAdapterError
from python_backend.text.tokenizer import Preprocessor
from python_backend.triton_io import requests as req
from python_backend.triton_io.guide_check import GuideCheck
from python_backend.triton_io.lora_inputs import LoraInputs
from python_backend.triton_io.metrics import CodecMetrics
from python_backend.triton_io.model_configs import PreprocessingConfig
from python_backend.triton_io.preprocess import engine_inputs


class TritonPythonModel:
    def initialize(self, args):
        config = PreprocessingConfig.from_parameters(req.model_parameters(args))
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.pre = Preprocessor(
            version_dir / config.tokenizer_dir,
            max_seq_len=config.max_seq_len,
            max_stop_words=config.max_stop_words,
            max_text_bytes=config.max_text_bytes,
            trust_remote_code=config.trust_remote_code,
            max_input_len=config.max_input_len,
        )
        self.traits = config.engine
        self.guides = GuideCheck(
            self.pre.tokenizer, self.pre.end_ids, self.pre.vocab_size, json_whitespace=config.json_whitespace
        )
        self.lora = LoraInputs(config.lora_dir, config.lora_format)
        self.metrics = CodecMetrics(
            pb_utils, "triton_llm_tokenize_duration_seconds", "Time to tokenize one request"
        )

    def finalize(self):
        self.metrics.close()

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        started = time.perf_counter()
        try:
            self.traits.check_request_parameters(request.parameters())
            get = req.input_getter(pb_utils, request)
            outputs = {**engine_inputs(self.pre, get, self.traits, self.guides), **self.lora.outputs(get)}
        except UnknownAdapterError as exc:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(exc), pb_utils.TritonError.NOT_FOUND)
            )
        except InputError as exc:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(exc), pb_utils.TritonError.INVALID_ARG)
            )
        self.metrics.duration.observe(time.perf_counter() - started)
        return pb_utils.InferenceResponse([pb_utils.Tensor(k, v) for k, v in outputs.items()])
