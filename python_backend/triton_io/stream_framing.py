"""When a streamed response is due: the CPU engine's framing of a stream's tokens into responses.

The first token goes out in a response of its own, at once (it is what TTFT measures). After it:
- a fixed `stream_interval` N sends N tokens per response (1: one per token, tensorrtllm_backend's
  framing);
- "auto" (None, the default) frames by load. Every response costs the same CPU however many tokens
  it carries (an IPC send, tritonserver's ensemble step, postprocessing's detokenizer step, the
  client's read): about a sixth of the two cores at 16 streams sending one token each
  (docs/PERFORMANCE.md). That cost grows with the streams sharing an engine step while the step's
  own cost barely does, so a stream's tokens are held until it has auto_interval(step_batch) of
  them: one stream, or up to RESPONSES_PER_STEP of them, still gets every token at once; 16 streams
  send 4 per response. And while a later output of the stream already waits in the response
  writer's queue (the writer, every stream's sender, fell behind), the tokens wait for it too.
The last tokens always go with the final response, whatever was held.
"""

from __future__ import annotations

# "auto": about how many responses the streams of one engine step send between them, at most. 4: at
# 16 streams four tokens per response, which measured 1.13-1.26x the throughput of one token per
# response (docs/PERFORMANCE.md, the STREAM_INTERVAL=4 A/B), while up to 4 streams keep one per token.
RESPONSES_PER_STEP = 4


def auto_interval(step_batch: int) -> int:
    """Tokens per response after the first when `step_batch` streams got tokens in the step."""
    return max(1, -(-step_batch // RESPONSES_PER_STEP))


def due(*, held: int, first: bool, interval: int | None, step_batch: int, behind: bool) -> bool:
    """Whether a stream's `held` tokens (not sent yet) go out now, not at the final response.
    first: none of the stream's tokens went out yet; interval: the fixed stream_interval, or None
    for "auto"; step_batch: the streams that got tokens in the step of the latest output; behind: a
    later output of this stream already waits in the writer's queue."""
    if not held:
        return False
    if first:
        return True
    if interval is None:
        return not behind and held >= auto_interval(step_batch)
    return held >= interval
