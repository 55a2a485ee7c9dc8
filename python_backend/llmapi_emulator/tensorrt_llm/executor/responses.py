"""Engine outputs → the executor's responses, and each response → the CompletionOutput it updates.

When a response goes out (PyTorch backend, tensorrt_llm/_torch/pyexecutor/py_executor.py
`_handle_responses`, as stored in the code index): a streaming request gets one at its first decoding
iteration, at every `stream_interval`-th, and when it finishes; a non-streaming request only when it
finishes (C++ LlmRequest::createResult: `shouldSendResponse = isFinished() || (mIsStreaming && ...)`).
Which tokens it carries (createResult's calculateNbTokensOut): streaming, the tokens not sent yet;
non-streaming, all generated tokens, preceded by the prompt when exclude_input_from_output is False.
How a response updates its CompletionOutput: 1.2.1 result.html `_handle_sequence` (token_ids extended,
logprobs appended, cumulative_logprob replaced, generation_logits [length, vocab], finish reasons:
END_ID → 'stop', STOP_WORDS → 'stop' with stop_reason and the stop ids stripped unless
include_stop_str_in_output, LENGTH → 'length', CANCELLED → 'cancelled').
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from python_backend.engine.outputs import TokenOutput
from python_backend.engine.sequence import FinishReason

from .perf import request_perf_metrics
from .result import Logprob, RequestError

ENGINE_FAILED = "the CPU engine failed while running this request"


@dataclass
class SequenceStream:
    """One sequence's responses, built on the engine thread."""

    index: int
    prompt: list[int]
    streaming: bool
    stream_interval: int
    exclude_input: bool
    perf: bool
    tokens_per_block: int
    arrival_ns: int
    iterations: int = 0
    pending: list[int] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)
    context_logits: np.ndarray | None = None
    generated: int = 0
    first_token_ns: int = 0

    def on_output(self, out: TokenOutput):
        """The response update to deliver for this engine output, or None (not a response yet)."""
        if out.new_token_ids:
            self.iterations += 1
            self.generated += len(out.new_token_ids)
            self.first_token_ns = self.first_token_ns or time.monotonic_ns()
            self.pending.extend(out.new_token_ids)
            self.log_probs.extend(out.log_probs)
            self.logits.extend(out.generation_logits)
        if out.context_logits is not None:
            self.context_logits = out.context_logits
        if out.finished:
            if out.finish_reason is FinishReason.ERROR:
                return RequestError(ENGINE_FAILED)
            return self._response(out, final=True)
        # A sequence that finished in this step gets its final output next, in the same step: its last
        # tokens ride on that final response, as the executor's does.
        due = self.iterations == 1 or self.iterations % self.stream_interval == 0
        if self.streaming and out.new_token_ids and due and out.finish_reason is None:
            return self._response(out, final=False)
        return None

    def _response(self, out: TokenOutput, final: bool):
        tokens, self.pending = self.pending, []
        if final and not self.streaming and not self.exclude_input:
            tokens = self.prompt + tokens
        log_probs, self.log_probs = self.log_probs, []
        context, self.context_logits = self.context_logits, None
        logits = np.stack(self.logits) if self.logits else None
        self.logits = []
        metrics = None
        if self.perf:
            metrics = request_perf_metrics(
                out,
                held_tokens=len(self.prompt) + self.generated,
                tokens_per_block=self.tokens_per_block,
                arrival_ns=self.arrival_ns,
                first_token_ns=self.first_token_ns,
                last_token_ns=time.monotonic_ns() if final else 0,
            )
        reason = out.finish_reason if final else None
        cumulative = out.cum_log_prob if log_probs or final else None
        return _Update(
            index=self.index,
            tokens=tokens,
            log_probs=log_probs,
            cumulative=cumulative,
            logits=logits,
            context_logits=context,
            reason=reason,
            final=final,
            metrics=metrics,
        )


@dataclass(frozen=True, kw_only=True)
class _Update:
    """One response for one sequence; calling it applies it to the RequestOutput (_handle_sequence)."""

    index: int
    tokens: list[int]
    log_probs: list[float]
    cumulative: float | None
    logits: np.ndarray | None
    context_logits: np.ndarray | None
    reason: FinishReason | None
    final: bool
    metrics: object | None

    def __call__(self, result) -> None:
        params = result.sampling_params
        output = result._outputs[self.index]
        output._last_token_ids_len = len(output.token_ids)
        output.token_ids.extend(self.tokens)
        if params.logprobs:
            output.cumulative_logprob = self.cumulative
            output._last_logprobs_len = len(output.logprobs)
            # one {sampled token: Logprob(value, rank=1)} per generated token (module docstring)
            generated = self.tokens[-len(self.log_probs) :] if self.log_probs else []
            output.logprobs += [
                {t: Logprob(logprob=v, rank=1)} for t, v in zip(generated, self.log_probs, strict=True)
            ]
        if params.return_generation_logits:
            rows = torch.from_numpy(self.logits) if self.logits is not None else None
            if rows is not None:
                previous = output.generation_logits
                output.generation_logits = rows if previous is None else torch.cat([previous, rows])
        if self.context_logits is not None:
            result._context_logits = torch.from_numpy(self.context_logits)
        if self.metrics is not None:
            output.request_perf_metrics = self.metrics
        if self.final:
            _finish(output, self.reason, params, result._stop_words)
            result._done = all(o.finish_reason is not None for o in result._outputs)
        if result._tokenizer is not None:  # DetokenizedGenerationResultBase, after the stop ids are cut
            output._last_text_len = len(output.text)
            output.text = result._tokenizer.decode(
                output.token_ids, skip_special_tokens=params.skip_special_tokens
            )


def _finish(output, reason: FinishReason, params, stop_words: list) -> None:
    """stop_words: (stop_reason, token ids) pairs, SamplingParams._get_stop_reasons_and_words."""
    if reason is FinishReason.CANCELLED:
        output.finish_reason = "cancelled"
    elif reason in (FinishReason.LENGTH, FinishReason.CONTEXT):
        output.finish_reason = "length"
    else:
        output.finish_reason = "stop"
        for stop_reason, stop_ids in stop_words:
            if output.token_ids[-len(stop_ids) :] == stop_ids:
                output.stop_reason = stop_reason
                if not params.include_stop_str_in_output:
                    output.token_ids = output.token_ids[: -len(stop_ids)]
                break
