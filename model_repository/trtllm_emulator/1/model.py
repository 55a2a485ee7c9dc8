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
import os
import time

import triton_python_backend_utils as pb_utils

from python_backend.triton_io import logs
from python_backend.triton_io import requests as req
from python_backend.triton_io.metrics import EngineMetrics
from python_backend.trtllm_emulator.backend import EmulatedBackend
from python_backend.trtllm_emulator.settings import BackendLoadError, executor_queue_bound, load_settings

log = logging.getLogger("triton_llm.trtllm_emulator")


class TritonResponses:
    """python_backend.trtllm_emulator.backend.ResponseFactory over pb_utils."""

    final_flag = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL

    @staticmethod
    def data(tensors):
        return pb_utils.InferenceResponse([pb_utils.Tensor(name, value) for name, value in tensors.items()])

    @staticmethod
    def error(message):
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, pb_utils.TritonError.INTERNAL))

    @staticmethod
    def empty():
        return pb_utils.InferenceResponse([])


class RequestView:
    """python_backend.trtllm_emulator.backend.RequestView over one pb_utils request."""

    def __init__(self, request):
        self._request = request
        self.sender = request.get_response_sender()
        self.get = req.input_getter(pb_utils, request)

    def request_id(self):
        return self._request.request_id()

    def requested_output_names(self):
        return set(self._request.requested_output_names())


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])  # as Triton loaded it: what it will accept in a response
        logs.configure("INFO")
        if not config.get("model_transaction_policy", {}).get("decoupled", False):
            raise pb_utils.TritonModelException(
                "the TensorRT-LLM emulator runs decoupled only (model_transaction_policy { decoupled: true })"
            )
        params = req.model_parameters(args)
        try:
            settings = load_settings(params, executor_queue_bound(config))
        except BackendLoadError as exc:
            raise pb_utils.TritonModelException(str(exc)) from None
        declared = {output["name"] for output in config.get("output", [])}
        self.backend = EmulatedBackend(
            settings,
            declared,
            args["model_name"],
            TritonResponses(),
            metrics=EngineMetrics(pb_utils, args["model_name"]),
            on_fatal=self._exit_stub,
        )
        self.backend.start()

    @staticmethod
    def _exit_stub(exc):
        """The engine thread died: end the stub so Triton (and server/supervisor.py) see it."""
        log.error("engine thread died (%s); exiting the model process", exc)
        time.sleep(0.5)
        os._exit(70)

    def execute(self, requests):
        self.backend.enqueue([RequestView(request) for request in requests])
        return None

    def finalize(self):
        self.backend.shutdown()
