"""Check: cancelling a stream frees its sequence in the engine.

A long generation (min_tokens = max_tokens, so it cannot end early) is streamed over gRPC; once a
few tokens have arrived and the engine's active-request gauge shows it, the client cancels (it
closes the stream, which cancels the request in Triton). The check passes when the gauge is back
at 0 in well under the time the rest of the generation would have taken: then it was the
cancellation, not the end of the generation, that freed the sequence. The time the rest would take
is estimated from this stream's own token rate, so the bound holds on a slow CPU and a fast GPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from client import GenerateRequest, LLMClient

from . import engine_metrics
from .result import CheckResult
from .target import Limits, Target

NAME = "cancellation frees the sequence"
PROMPT = "Write a long story about a dragon who learns to sail."
MIN_TOKENS_SEEN = 4  # tokens received before cancelling: enough for a token rate
MAX_TOKENS_SEEN = 64  # give up waiting for the gauge to show the request after this many
FREED_WITHIN = 0.5  # of the remaining generation time: "freed by the cancellation"
MIN_REMAINING_S = 2.0  # below this the two causes cannot be told apart


@dataclass(frozen=True)
class LongRequest(GenerateRequest):
    """A request that generates exactly max_tokens (the ensemble's min_tokens input)."""

    def inputs(self, stream: bool) -> dict[str, object]:
        return {**super().inputs(stream), "min_tokens": self.max_tokens}


def long_request(limits: Limits) -> LongRequest:
    # Half the context leaves room for the prompt and its chat template; 2048 is long enough anywhere.
    return LongRequest(PROMPT, max_tokens=min(2048, limits.max_seq_len // 2), chat=True)


def check(target: Target, limits: Limits | None = None) -> CheckResult:
    limits = limits or Limits.of_server(target)
    before = engine_metrics.wait_idle(target, timeout_s=60)
    value, metric = engine_metrics.active_requests(target)
    if before is None:
        return CheckResult(
            NAME,
            False,
            f"the engine was not idle before the check ({metric} = {value:g})",
            {"metric": metric},
        )
    request = long_request(limits)
    chunks = LLMClient(target.grpc_url, timeout_s=600).events(request, stream=True)
    times, tokens, peak = [], 0, 0.0
    for chunk in chunks:
        times.append(chunk.time_s)
        tokens = max(tokens, chunk.token_count)
        peak = max(peak, engine_metrics.active_requests(target)[0])
        if (peak >= 1 and tokens >= MIN_TOKENS_SEEN) or tokens >= MAX_TOKENS_SEEN:
            break
    chunks.close()  # cancels the request on the server (client/api.py: stop_stream(cancel_requests=True))
    cancelled_at = time.monotonic()
    tpot = (times[-1] - times[0]) / max(tokens - 1, 1) if len(times) > 1 else 0.0
    remaining_s = (request.max_tokens - tokens) * tpot
    idle = engine_metrics.wait_idle(target, timeout_s=max(2 * remaining_s, 30.0))
    seconds_to_idle = None if idle is None else round(time.monotonic() - cancelled_at, 3)
    figures = {
        "metric": metric,
        "max_tokens": request.max_tokens,
        "tokens_before_cancel": tokens,
        "peak_active": peak,
        "tpot_s": round(tpot, 5),
        "remaining_generation_s": round(remaining_s, 3),
        "seconds_to_idle": seconds_to_idle,
    }
    if peak < 1:
        return CheckResult(
            NAME, False, f"{metric} never showed the running request ({tokens} tokens streamed)", figures
        )
    if remaining_s < MIN_REMAINING_S:
        return CheckResult(
            NAME,
            False,
            f"inconclusive: the rest of the generation would take only {remaining_s:.2f} s "
            f"(limit {MIN_REMAINING_S} s), too little to tell cancellation from completion",
            figures,
        )
    if seconds_to_idle is None:
        return CheckResult(
            NAME,
            False,
            f"{metric} still above 0 {max(2 * remaining_s, 30.0):.0f} s after the "
            "cancel: the sequence was never freed",
            figures,
        )
    if seconds_to_idle > FREED_WITHIN * remaining_s:
        return CheckResult(
            NAME,
            False,
            f"{metric} reached 0 only {seconds_to_idle:.2f} s after the cancel, about when "
            f"the generation would have ended anyway ({remaining_s:.2f} s): the engine generated on "
            "after the client cancelled",
            figures,
        )
    return CheckResult(
        NAME,
        True,
        f"cancelled after {tokens} of {request.max_tokens} tokens; {metric} was 0 "
        f"{seconds_to_idle:.2f} s later (the rest would have taken {remaining_s:.2f} s)",
        figures,
    )
