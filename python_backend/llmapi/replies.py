"""A sequence's responses to Triton: data laid out as the `tensorrt_llm` model's (outputs.py), or an
error, with FINAL on the response that ends the Triton request's last sequence (the C++ backend's
framing). Called on the frontend's loop thread only, so Triton's response sender is never asked
is_cancelled() after its FINAL send (which crashes tritonserver 2.51: trtllm_emulator/tracking.py).
"""

from __future__ import annotations

from ..triton_io.triton_api import ResponseBuilder, Status
from . import outputs
from .framing import Emission
from .tracking import Sequence


class Replies:
    def __init__(self, responses: ResponseBuilder):
        self.responses = responses

    def data(self, seq: Sequence, emission: Emission) -> None:
        arrays = outputs.tensors(
            seq.pending.plan,
            emission,
            batch_index=seq.batch_index,
            sequence_index=seq.sequence_index,
            prompt_len=len(seq.call.prompt),
        )
        self._send(seq, self.responses.data(arrays), emission.final)

    def error(self, seq: Sequence, message: str, status: Status) -> None:
        """The sequence's last response: this error."""
        seq.framing.finished = True
        self._send(seq, self.responses.error(message, status), True)

    def _send(self, seq: Sequence, response, ends_sequence: bool) -> None:
        pending = seq.pending
        flags = 0
        if ends_sequence:
            pending.live -= 1
            if pending.live == 0:
                flags = self.responses.final_flag
                pending.closed = True
        pending.request.sender.send(response, flags=flags)
