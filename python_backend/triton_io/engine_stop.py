"""Postprocessing → a TensorRT-LLM `engine`: "stop the request with this id", through Triton.

The GPU repository's counterpart of cancel_channel.py. Triton's ensemble does not cancel its running
`engine` step when a client leaves (it marks only the following steps' requests cancelled), so
postprocessing, which sees those, tells the engine. The `tensorrtllm` backend takes that message as
a request with `stop` = true carrying the Triton request id of the requests to stop, and refuses a
stop without an id (build_engines/trtllm/backend_contract.py, STOP_INPUT). The ensemble hands every
step the client's request id, so this reaches the engine only for requests that have one: the
client library and the OpenAI gateway always set one; Triton 2.51's HTTP generate endpoint cannot.

It is a BLS request. Triton 2.51's Python stub crashed after a few hundred of those in the CPU
repository (see cancel_channel.py), which is why the CPU engine gets its own side channel; the
TensorRT-LLM engine can only be reached through Triton.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("triton_llm.engine_stop")


class EngineStopper:
    """Sends `stop` requests to the engine model; `pb_utils` is Triton's Python-backend module."""

    def __init__(self, pb_utils, engine_model: str = "engine"):
        self.pb_utils, self.engine_model = pb_utils, engine_model

    def stop(self, request_id: str) -> bool:
        """Stop the engine's requests with this Triton request id; False when there is none to name."""
        if not request_id:
            return False
        one = np.ones((1, 1), dtype=np.int32)
        # The backend reads `stop` before anything else; the three inputs its config requires ride
        # along so that Triton accepts the request at all.
        inputs = [
            self.pb_utils.Tensor("input_ids", one),
            self.pb_utils.Tensor("input_lengths", one),
            self.pb_utils.Tensor("request_output_len", one),
            self.pb_utils.Tensor("stop", np.ones((1, 1), dtype=np.bool_)),
        ]
        request = self.pb_utils.InferenceRequest(
            model_name=self.engine_model, inputs=inputs, requested_output_names=[], request_id=request_id
        )
        for response in request.exec(decoupled=True):
            if response.has_error():
                log.warning("stopping engine request %r failed: %s", request_id, response.error().message())
                return False
        return True
