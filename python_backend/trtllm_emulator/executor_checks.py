"""What the executor checks of a request once it has it: at fetch, and inside its first step.

- At fetch (LlmRequest::validate, NVIDIA/TensorRT-LLM cpp/tensorrt_llm/batch_manager/llmRequest.cpp,
  stored copy at 89fd9b74): a prompt over the executor's max input length fails that request; prompt +
  output over max_seq_len shortens the output.
- Inside forwardAsync (contract/trtllm_backend/executor.py): the embedding bias must hold the model's
  vocab_size values, and the guide must compile. Either failure is an exception in forwardAsync, which
  terminates every active request, not only the one at fault: StepFailure, which backend.py answers so.
  The emulator runs these checks when it hands the request to the CPU engine, the moment the executor
  would schedule its first step (the CPU engine itself compiles guides at submit and refuses only the
  request at fault).
"""

from __future__ import annotations

import dataclasses
import logging

from ..contract.errors import InputError
from ..contract.trtllm_backend.executor import EMBEDDING_BIAS_SHAPE
from ..engine.sequence import SamplingParams
from ..triton_io import logs
from .executor_requests import ItemInput

log = logging.getLogger("triton_llm.trtllm_emulator")
PROMPT_TOO_LONG = (
    "Prompt length ({length}) exceeds maximum input length ({limit}). Set log level to info and check "
    "TRTGptModel logs for how maximum input length is set"
)


class StepFailure(Exception):
    """An exception inside forwardAsync: every active request ends with it."""


def checked(item: ItemInput, settings, engine) -> SamplingParams:
    """Every check, in the executor's order: at fetch (ValueError: this request fails), the CPU
    engine's own (ValueError), in the first step (StepFailure: every active request fails)."""
    params = at_fetch(item, max_input_len=settings.max_input_len, max_seq_len=settings.engine.max_seq_len)
    engine.validate(item.prompt, params)
    in_step(item, vocab_size=engine.runner.shape.vocab_size, grammars=engine.admission.grammars)
    return params


def at_fetch(item: ItemInput, *, max_input_len: int, max_seq_len: int) -> SamplingParams:
    """The params the request runs with; ValueError (that request fails) for a prompt too long."""
    room = max_seq_len - len(item.prompt)
    if len(item.prompt) > max_input_len:
        raise ValueError(PROMPT_TOO_LONG.format(length=len(item.prompt), limit=max_input_len))
    if item.params.max_tokens <= room:
        return item.params
    logs.event(log, "output_len_shortened", logging.WARNING, requested=item.params.max_tokens, to=room)
    return dataclasses.replace(item.params, max_tokens=room, min_tokens=min(item.params.min_tokens, room))


def in_step(item: ItemInput, *, vocab_size: int, grammars) -> None:
    """StepFailure when the executor's first step would throw for this request. `grammars`: the CPU
    engine's GrammarCompiler (compiled grammars are cached, so the engine's own compile is free)."""
    if item.bias_size and item.bias_size != vocab_size:
        raise StepFailure(EMBEDDING_BIAS_SHAPE.format(vocab=vocab_size))
    if item.params.guide is not None and grammars is not None:
        try:
            grammars.compile(item.params.guide)
        except InputError as exc:
            raise StepFailure(str(exc)) from None
