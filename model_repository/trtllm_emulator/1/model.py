"""Triton adapter for the TensorRT-LLM backend emulator (python_backend/trtllm_emulator/).

No config.pbtxt of its own: `python -m build_engines emulate-gpu-repo` copies this file into the GPU
repository's `engine/1/` and changes that config's `backend` from "tensorrtllm" to "python",
nothing else. So the model is loaded with the GPU config's inputs, outputs, dynamic batcher and
parameters, and answers as the tensorrtllm backend would (TensorRT-LLM's `tensorrt_llm` I/O):
  - load: fails with the backend's message when a required parameter is missing or invalid;
  - per request: one executor request per batch row; streaming → one response per engine step
    with only its new tokens, FINAL on the last data response (a zero-token final when the
    sequence ends on end_id or is cancelled); otherwise one response; output_ids INT32
    [1, 1, len], sequence_length INT32 [1, 1], and with return_perf_metrics the ten perf outputs
    [1, 1] on every response (an undeclared one turns the response into the backend's error);
  - stop=true cancels the requests with the same request id; a cancelled response factory is
    noticed every cancellation_check_period_ms.
Errors are INTERNAL, as the backend's. Decoupled only (the backend's streaming needs it).
"""

import json
import logging

import triton_python_backend_utils as pb_utils

from python_backend.triton_io import logs
from python_backend.triton_io.metrics import EngineMetrics
from python_backend.triton_io.requests import model_parameters
from python_backend.triton_io.stub_exit import exit_stub
from python_backend.triton_io.triton_api import PbRequest, PbResponses
from python_backend.trtllm_emulator.backend import EmulatedBackend
from python_backend.trtllm_emulator.settings import BackendLoadError, executor_queue_bound, load_settings

log = logging.getLogger("triton_llm.trtllm_emulator")


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])  # as Triton loaded it: what it will accept in a response
        logs.configure("INFO")
        if not config.get("model_transaction_policy", {}).get("decoupled", False):
            raise pb_utils.TritonModelException(
                "the TensorRT-LLM emulator runs decoupled only (model_transaction_policy { decoupled: true })"
            )
        params = model_parameters(args)
        try:
            settings = load_settings(params, executor_queue_bound(config))
        except BackendLoadError as exc:
            raise pb_utils.TritonModelException(str(exc)) from None
        declared = {output["name"] for output in config.get("output", [])}
        self.metrics = EngineMetrics(pb_utils, args["model_name"])
        self.backend = EmulatedBackend(
            settings,
            declared,
            args["model_name"],
            PbResponses(pb_utils),  # every error INTERNAL, as the backend's
            metrics=self.metrics,
            on_fatal=exit_stub(log),
        )
        self.backend.start()

    def execute(self, requests):
        self.backend.enqueue([PbRequest(pb_utils, request) for request in requests])
        return None

    def finalize(self):
        self.backend.shutdown()
        self.metrics.close()  # after the engine thread, their last user (metrics.Families.close says why)
