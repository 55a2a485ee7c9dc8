"""One LLM-API request (one sequence of a Triton request): its streamed outputs → the responses the
C++ backend would send (contract/trtllm_backend/framing.py), as Emission values.

Input: `on_output(completion, context_logits)` for each RequestOutput the LLM API yields (the
frontend always streams from the LLM API, see frontend.py), with its CompletionOutput: token_ids
cumulative and without the prompt (sampling.py passes exclude_input_from_output=True), logprobs
aligned with them, finish_reason once finished, generation_logits, request_perf_metrics.
Output: at most one Emission per call:
  - streaming: the tokens generated since the previous response; none when a step brought none,
    except the final one, which is always sent (zero tokens when the sequence ended on its end id:
    the end token is not output, as the C++ executor does not output it);
  - not streaming: one final Emission, the prompt first unless exclude_input_in_output;
  - cancelled (abort: a stop request or a cancelled client): the executor clears the generated
    tokens not yet sent (clearGeneratedTokens, trtllm_emulator/framing.py): streaming ends with a
    zero-token final, non-streaming with the prompt only (or nothing);
  - a multi-token stop word (stops.py): the output is cut after it and the Emission is final;
    `matched_stop_word` tells the frontend to abort the request.
Log probs are each generated token's (the prompt has none) and cum_log_prob their sum over every
token kept so far; generation logits rows follow the tokens; context logits ride once, on the
first response that has them (the CPU engine sends them on a sequence's first response).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

from ..contract import trtllm_backend as bc
from ..contract.perf_metrics import PerfMetrics
from .stops import StopMatcher

CANCELLED, STOP = "cancelled", "stop"


@dataclass(frozen=True, kw_only=True)
class Emission:
    tokens: list[int]  # the output_ids row of this response
    final: bool
    log_probs: list[float]  # this response's generated tokens' log probs
    cum_log_prob: float
    generation_logits: np.ndarray | None = None  # [tokens, vocab]
    context_logits: np.ndarray | None = None  # [prompt, vocab], once per sequence
    perf: PerfMetrics | None = None


class SequenceFraming:
    def __init__(
        self,
        prompt: list[int],
        *,
        streaming: bool,
        exclude_input_in_output: bool,
        end_id: int,
        stops: StopMatcher,
    ):
        self.prompt = list(prompt)
        self.streaming = streaming
        self.exclude_input_in_output = exclude_input_in_output
        self.end_id = end_id
        self.stops = stops
        self.generated: list[int] = []
        self.log_probs: list[float] = []
        self.logits: list[np.ndarray] = []
        self.sent = 0  # generated tokens carried by earlier streaming responses
        self.context_sent = False
        self.finished = False
        self.matched_stop_word = False

    def on_output(self, completion, context_logits=None) -> Emission | None:
        if self.finished:
            return None
        tokens = list(completion.token_ids)
        new = tokens[len(self.generated) :]
        checked = len(self.generated)
        self.log_probs.extend(
            _logprob(e, t) for e, t in zip(completion.logprobs[checked:], new, strict=False)
        )
        self.logits.extend(_new_rows(completion.generation_logits, len(new)))
        self.generated.extend(new)
        final = completion.finish_reason is not None
        cut = self.stops.cut(self.generated, checked) if self.stops else None
        if cut is not None:
            self._keep(cut)
            self.matched_stop_word = final = True
        elif completion.finish_reason == CANCELLED:
            self._keep(self.sent if self.streaming else 0)
        elif completion.finish_reason == STOP and self.generated and self.generated[-1] == self.end_id:
            self._keep(len(self.generated) - 1)
        if not final and (not self.streaming or len(self.generated) == self.sent):
            return None
        self.finished = final
        return self._emit(final, context_logits, completion.request_perf_metrics)

    def _keep(self, length: int) -> None:
        del self.generated[length:]
        del self.log_probs[length:]
        del self.logits[length:]

    def _emit(self, final: bool, context_logits, perf_metrics) -> Emission:
        start = self.sent if self.streaming else 0
        row = bc.response_tokens(
            self.prompt,
            self.generated,
            streaming=self.streaming,
            exclude_input_in_output=self.exclude_input_in_output,
            already_sent=self.sent,
        )
        emission = Emission(
            tokens=row,
            final=final,
            log_probs=self.log_probs[start:],
            cum_log_prob=float(sum(self.log_probs)),
            generation_logits=np.stack(self.logits[start:]) if self.logits[start:] else None,
            context_logits=None if self.context_sent else _array(context_logits),
            perf=perf_of(perf_metrics),
        )
        self.sent = len(self.generated)
        self.context_sent = self.context_sent or context_logits is not None
        return emission


def _logprob(entry, token: int) -> float:
    """One generated token's log prob: the PyTorch backend's TokenLogprobs entry is a dict of token
    id → Logprob(logprob, rank) (the sampled token always among them); a plain float is taken as is."""
    if isinstance(entry, dict):
        value = entry[token]
        return float(getattr(value, "logprob", value))
    return float(entry)


def _array(tensor) -> np.ndarray | None:
    """A torch tensor (or array) as float32 numpy, a leading beam/batch dimension of 1 dropped."""
    if tensor is None:
        return None
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().float().cpu().numpy()
    array = np.asarray(tensor, dtype=np.float32)
    return array[0] if array.ndim == 3 and array.shape[0] == 1 else array


def _new_rows(logits, count: int) -> list[np.ndarray]:
    """The generation-logits rows of the `count` new tokens: the last rows, whether the LLM API
    gives the rows so far or only this step's."""
    array = _array(logits)
    if array is None or count == 0:
        return []
    return list(array[-count:])


def _ns(delta) -> int:
    """A steady-clock time point as the LLM API gives it (datetime.timedelta since the clock's epoch:
    upstream's llmapi model.py converts it with pd.Timedelta(...).value) → integer ns."""
    if isinstance(delta, datetime.timedelta):
        return delta // datetime.timedelta(microseconds=1) * 1000
    return int(delta)


def perf_of(metrics) -> PerfMetrics | None:
    """CompletionOutput.request_perf_metrics → the ten perf outputs (None: not returned)."""
    if metrics is None:
        return None
    timing, kv, spec = metrics.timing_metrics, metrics.kv_cache_metrics, metrics.speculative_decoding
    return PerfMetrics(
        kv_cache_alloc_new_blocks=int(kv.num_new_allocated_blocks),
        kv_cache_reused_blocks=int(kv.num_reused_blocks),
        kv_cache_alloc_total_blocks=int(kv.num_total_allocated_blocks),
        arrival_time_ns=_ns(timing.arrival_time),
        first_scheduled_time_ns=_ns(timing.first_scheduled_time),
        first_token_time_ns=_ns(timing.first_token_time),
        last_token_time_ns=_ns(timing.last_token_time),
        acceptance_rate=float(spec.acceptance_rate),
        total_accepted_draft_tokens=int(spec.total_accepted_draft_tokens),
        total_draft_tokens=int(spec.total_draft_tokens),
    )
