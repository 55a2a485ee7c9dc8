"""What the engine hands each request's callback: TokenOutput, built by keyword from one step's
SequenceOutput.

Framing, the same for every way a request ends: a step's new tokens go out in an output of their
own, then a finish as an empty final output (finished=True), exactly once per sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .sequence import FinishReason, Sequence
from .step import SequenceOutput


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenOutput:
    request_id: str
    new_token_ids: list[int]
    finished: bool
    finish_reason: FinishReason | None
    num_prompt_tokens: int
    num_cached_tokens: int
    # return_log_probs: the log prob of each of new_token_ids, and the sum over every token
    # generated so far (TensorRT-LLM's output_log_probs / cum_log_probs); empty and 0 otherwise.
    log_probs: tuple[float, ...] = ()
    cum_log_prob: float = 0.0
    # return_generation_logits: the logits row [vocab] of each of new_token_ids (TensorRT-LLM's
    # generation_logits); empty otherwise.
    generation_logits: tuple[np.ndarray, ...] = ()
    # return_context_logits: the logits at each prompt position [prompt, vocab], on the first output
    # (TensorRT-LLM's context_logits); None otherwise.
    context_logits: np.ndarray | None = None
    scheduled_ns: int = 0  # time.monotonic_ns() when the sequence was first scheduled (0: not yet)
    # speculative decoding so far: draft tokens verified, and how many of them were kept
    draft_tokens: int = 0
    accepted_draft_tokens: int = 0
    # How many sequences got tokens in the step that produced this output (0: a final output with
    # no token). The response side sends larger responses when more streams share a step
    # (triton_io/stream_framing.py, stream_interval "auto").
    step_batch: int = 0


# Called on the engine thread; returning False asks the engine to cancel the request.
OutputCallback = Callable[[TokenOutput], "bool | None"]


def token_output(out: SequenceOutput, step_batch: int) -> TokenOutput:
    """The output carrying a step's new tokens and their extras (not yet final), from a step in
    which `step_batch` sequences got tokens."""
    return _output(
        out.seq,
        new_token_ids=out.new_token_ids,
        finished=False,
        log_probs=out.log_probs,
        generation_logits=out.logits,
        context_logits=out.context_logits,
        step_batch=step_batch,
    )


def final_output(seq: Sequence, context_logits: np.ndarray | None = None) -> TokenOutput:
    """The empty output that ends a sequence. context_logits: only when no token output carried
    them (the prompt's first draw was an end id, or the request was cancelled during its prompt)."""
    return _output(
        seq,
        new_token_ids=[],
        finished=True,
        log_probs=(),
        generation_logits=(),
        context_logits=context_logits,
    )


def _output(
    seq: Sequence,
    *,
    new_token_ids: list[int],
    finished: bool,
    log_probs: tuple[float, ...],
    generation_logits: tuple[np.ndarray, ...],
    context_logits: np.ndarray | None,
    step_batch: int = 0,
) -> TokenOutput:
    return TokenOutput(
        request_id=seq.request_id,
        new_token_ids=new_token_ids,
        finished=finished,
        finish_reason=seq.finish_reason,
        num_prompt_tokens=seq.num_prompt,
        num_cached_tokens=seq.num_cached,
        log_probs=log_probs,
        cum_log_prob=seq.cum_log_prob,
        generation_logits=generation_logits,
        context_logits=context_logits,
        scheduled_ns=seq.scheduled_ns,
        draft_tokens=seq.draft_tokens,
        accepted_draft_tokens=seq.accepted_draft_tokens,
        step_batch=step_batch,
    )
