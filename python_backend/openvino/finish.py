"""The CPU engine's finish rules over the tokens the pipeline hands out, so a request ends on the same
token under either engine (engine/scheduler.py Scheduler._keep states them for the ONNX engine).

The pipeline stops on end ids itself but keeps the end id in its output, while ours drops it (a
control token); stop sequences of several tokens it has no field for (its stop_strings are text), so
they are matched here on token ids, and the pipeline's request is cancelled once one matched.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.sequence import FinishReason, SamplingParams


@dataclass(frozen=True, kw_only=True, slots=True)
class Kept:
    """What of a read's new tokens joins the output, and the reason the sequence ended (None: runs on)."""

    tokens: list[int]
    reason: FinishReason | None


def keep(generated: list[int], new: list[int], params: SamplingParams) -> Kept:
    """Apply the finish rules to `new`, token by token, after the `generated` tokens kept so far (this
    call appends the kept ones to it): an end id ends the sequence and is not kept; otherwise the
    token is kept, then a stop sequence or max_tokens ends it."""
    kept: list[int] = []
    for token in new:
        if token in params.end_ids:
            return Kept(tokens=kept, reason=FinishReason.STOP)
        generated.append(token)
        kept.append(token)
        if any(generated[-len(s) :] == list(s) for s in params.stop_sequences if len(s) <= len(generated)):
            return Kept(tokens=kept, reason=FinishReason.STOP)
        if len(generated) >= params.max_tokens:
            return Kept(tokens=kept, reason=FinishReason.LENGTH)
    return Kept(tokens=kept, reason=None)
