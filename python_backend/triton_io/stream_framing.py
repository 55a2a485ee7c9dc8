"""When a streamed response is due: the CPU engine's framing of a stream's tokens into responses.

The first token goes out in a response of its own, at once (it is what TTFT measures). After it:
- a fixed `stream_interval` N sends N tokens per response (1: one per token, tensorrtllm_backend's
  framing);
- "auto" (None, the default) frames by load. Every response costs the same CPU however many tokens
  it carries (an IPC send, tritonserver's ensemble step, postprocessing's detokenizer step, the
  client's read), on the cores the engine computes on, so the responses of an engine's streams
  share a rate: RESPONSES_PER_SECOND between the streams of one step, each stream's responses at
  least step_batch / RESPONSES_PER_SECOND seconds apart, however fast the engine steps. A stream
  alone in its step is never held (one stream gets every token at once), and while a later output
  of the stream already waits in the response writer's queue (the writer, every stream's sender,
  fell behind), the tokens wait for it too.
The last tokens always go with the final response, whatever was held.
"""

from __future__ import annotations

# "auto": the responses per second the streams of one engine step send between them, at most. Each
# response costs ~1.4 ms of CPU outside the engine's model process (bench/profile.py server_cpu,
# 2026-12-07, FP32, one token per response at 16 streams: tritonserver 0.53 ms, postprocessing 0.40,
# the client 0.45), so 64 a second keep that under a tenth of one core. At 16 streams each stream
# sends every 250 ms: 4 tokens per response at the ONNX FP32 engine's ~60 ms steps (the earlier
# rule's 4 a step, docs/PERFORMANCE.md), ~11 at an engine stepping in 23 ms (ov-bf16), where 4 a
# step were 174 responses a second.
RESPONSES_PER_SECOND = 64.0


def due(
    *, held: int, first: bool, interval: int | None, step_batch: int, behind: bool, since_sent: float
) -> bool:
    """Whether a stream's `held` tokens (not sent yet) go out now, not at the final response.
    first: none of the stream's tokens went out yet; interval: the fixed stream_interval, or None
    for "auto"; step_batch: the streams that got tokens in the step of the latest output; behind: a
    later output of this stream already waits in the writer's queue; since_sent: seconds from the
    stream's last response to the latest output."""
    if not held:
        return False
    if first:
        return True
    if interval is None:
        return not behind and (step_batch <= 1 or since_sent >= step_batch / RESPONSES_PER_SECOND)
    return held >= interval
