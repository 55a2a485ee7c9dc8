"""One request's state inside the engine."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from ..contract.errors import InputError
from ..contract.guides import Guide
from ..contract.limits import SAMPLING_LIMITS, check_generation_logits, check_min_tokens


@dataclass(frozen=True)
class SamplingParams:
    """Per-request sampling settings, validated at construction.

    temperature 0 means greedy (the default, as in TensorRT-LLM when no sampling input is given).
    top_k 0 and top_p 1.0 disable those filters. Penalties follow the usual definitions:
    repetition divides positive logits (multiplies negative ones) of already-seen tokens; presence
    subtracts a constant once per seen token; frequency subtracts per occurrence.
    """

    max_tokens: int = 16
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    min_tokens: int = 0
    seed: int | None = None
    end_ids: tuple[int, ...] = ()
    stop_sequences: tuple[tuple[int, ...], ...] = ()
    # TensorRT-LLM's bad_words_list: sequences never generated (the last token of one is banned
    # whenever the tokens before it end the sequence so far).
    bad_sequences: tuple[tuple[int, ...], ...] = ()
    # TensorRT-LLM's embedding_bias, kept sparse: (token id, value added to its logit).
    logit_bias: tuple[tuple[int, float], ...] = ()
    guide: Guide | None = None  # the output must match it (contract/guides.py); compiled at submit
    return_log_probs: bool = False  # keep each generated token's log prob (TensorRT-LLM's return_log_probs)
    # keep the model's logits at each generated token (TensorRT-LLM's return_generation_logits)
    return_generation_logits: bool = False
    # keep the logits at each prompt position (TensorRT-LLM's return_context_logits): the prompt
    # is then computed one position at a time and without prefix reuse (the LM head is pruned to
    # a prefill's last position, and reused positions were never computed)
    return_context_logits: bool = False
    # prompt-lookup draft tokens per step (engine/drafter.py); None: the engine's default
    # (EngineConfig.speculative_draft_len), 0: never speculate for this request
    speculative_draft_len: int | None = None
    # the LoRA adapter the sequence runs with, by the name it was loaded under
    # (LLMEngine.load_adapter); None: the base model
    lora_name: str | None = None

    def __post_init__(self) -> None:
        for name, limit in SAMPLING_LIMITS.items():
            value = getattr(self, name)
            if value is not None:
                limit.check(name, value)
        check_min_tokens(self.min_tokens, self.max_tokens)
        check_generation_logits(self.return_generation_logits, self.max_tokens)
        if any(len(s) == 0 for s in self.stop_sequences):
            raise InputError("stop_sequences: must not contain an empty sequence")
        if any(len(s) == 0 for s in self.bad_sequences):
            raise InputError("bad_sequences: must not contain an empty sequence")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0 or self.top_k == 1

    @property
    def penalized(self) -> bool:
        return self.repetition_penalty != 1.0 or self.presence_penalty != 0.0 or self.frequency_penalty != 0.0


# Every sampling default, stated once: request parsers read a field's default here (e.g.
# DEFAULT_SAMPLING.top_p) rather than restating it.
DEFAULT_SAMPLING = SamplingParams()


class Status(enum.Enum):
    WAITING = "waiting"  # queued, no KV slot yet
    PREFILL = "prefill"  # has a slot; prompt not fully computed
    DECODE = "decode"  # prompt computed; one token per step
    FINISHED = "finished"


class FinishReason(str, enum.Enum):
    LENGTH = "length"  # max_tokens reached
    STOP = "stop"  # an end id or a stop sequence
    CONTEXT = "context"  # max_seq_len reached
    CANCELLED = "cancelled"
    ERROR = "error"


@dataclass(eq=False)
class Sequence:
    """A request moving through the engine.

    `tokens` is prompt + generated ids. KV is written for `tokens[:num_computed]`; a decoding
    sequence has exactly one token (the last sampled) whose KV is not yet written.
    """

    request_id: str
    prompt_ids: list[int]
    params: SamplingParams
    tokens: list[int] = field(init=False)
    status: Status = Status.WAITING
    slot: int | None = None
    # the weight slot of its LoRA adapter while it runs (engine/lora.py; 0: no adapter)
    adapter_slot: int = 0
    num_computed: int = 0
    num_cached: int = 0  # prompt tokens whose KV came from the prefix cache
    finish_reason: FinishReason | None = None
    cancel_requested: bool = False
    grammar: object | None = None  # engine/grammar.GrammarState when params.guide is set
    # num_return_sequences > 1: the sibling whose prompt KV the others copy instead of computing it
    # (None for the first sibling and for single-sequence requests).
    leader: Sequence | None = None
    scheduled_ns: int = (
        0  # time.monotonic_ns() when it first got a slot (TensorRT-LLM's first_scheduled_time_ns)
    )
    # return_log_probs: the sum of every kept token's log prob (TensorRT-LLM's cum_log_probs)
    cum_log_prob: float = 0.0
    # speculative decoding: draft tokens proposed and accepted over the sequence's life
    # (TensorRT-LLM's total_draft_tokens, total_accepted_draft_tokens)
    draft_tokens: int = 0
    accepted_draft_tokens: int = 0
    # Seeded per request, so a seeded request draws the same tokens whatever shares its batch.
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        if not self.prompt_ids:
            raise ValueError("prompt must contain at least one token")
        self.tokens = list(self.prompt_ids)
        self.rng = np.random.default_rng(self.params.seed)

    @property
    def num_prompt(self) -> int:
        return len(self.prompt_ids)

    @property
    def num_generated(self) -> int:
        return len(self.tokens) - len(self.prompt_ids)

    @property
    def generated_ids(self) -> list[int]:
        return self.tokens[len(self.prompt_ids) :]

    @property
    def prompt_remaining(self) -> int:
        return self.num_prompt - self.num_computed
