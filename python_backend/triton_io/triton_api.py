"""What the engine models need of Triton's Python backend, and its one implementation.

The code in python_backend/ takes requests and builds responses through the small protocols here,
so it unit-tests without Triton. PbRequest and PbResponses implement them over
`triton_python_backend_utils`, which the model.py adapters pass in (nothing here imports it). Both
engine adapters use them: the CPU engine's (engine_frontend.py) and the TensorRT-LLM emulator's
(python_backend/trtllm_emulator/backend.py's RequestView and ResponseFactory).
"""

from __future__ import annotations

import enum
from typing import Protocol

import numpy as np

from .requests import Getter, input_getter


class Status(enum.Enum):
    """The error codes the engine models answer with (TritonError's)."""

    INVALID_ARG = "INVALID_ARG"  # a bad request: it fails the same way every time
    NOT_FOUND = "NOT_FOUND"  # a LoRA adapter that is not there (HTTP 404)
    UNAVAILABLE = "UNAVAILABLE"  # overloaded or stopping: try again later
    INTERNAL = "INTERNAL"  # the engine failed (and every error of the TensorRT-LLM backend)


class ResponseSender(Protocol):
    """Triton's per-request response sender."""

    def send(self, response=None, flags: int = 0) -> None: ...
    def is_cancelled(self) -> bool: ...


class TritonRequest(Protocol):
    """One Triton request, as the engine models read it."""

    sender: ResponseSender
    get: Getter  # an input as a numpy array, batch dimension first; None when absent

    def request_id(self) -> str: ...
    def parameters(self) -> str: ...  # the request parameters, JSON
    def requested_output_names(self) -> set[str]: ...


class ResponseBuilder(Protocol):
    """Builds Triton responses; `final_flag` is the send flag of a request's last response."""

    final_flag: int

    def data(self, tensors: dict[str, np.ndarray]): ...
    def error(self, message: str, status: Status = Status.INTERNAL): ...
    def empty(self): ...  # a response with no outputs


class PbRequest:
    """TritonRequest over one pb_utils request."""

    def __init__(self, pb_utils, request):
        self._request = request
        self.sender = request.get_response_sender()
        self.get = input_getter(pb_utils, request)

    def request_id(self) -> str:
        return self._request.request_id()

    def parameters(self) -> str:
        return self._request.parameters()

    def requested_output_names(self) -> set[str]:
        return set(self._request.requested_output_names())


class PbResponses:
    """ResponseBuilder over pb_utils."""

    def __init__(self, pb_utils):
        self._pb = pb_utils
        self.final_flag = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL

    def data(self, tensors: dict[str, np.ndarray]):
        return self._pb.InferenceResponse([self._pb.Tensor(name, array) for name, array in tensors.items()])

    def error(self, message: str, status: Status = Status.INTERNAL):
        code = getattr(self._pb.TritonError, status.value)
        return self._pb.InferenceResponse(error=self._pb.TritonError(message, code))

    def empty(self):
        return self._pb.InferenceResponse([])
