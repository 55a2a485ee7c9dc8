"""Each request limit and its error message, stated once.

Field names differ by edge (the ensemble's `max_tokens` is the engine's `request_output_len`, the
OpenAI API's `max_completion_tokens`), so every check takes the name its caller's client used and
the message starts with it: "<field>: must be in [0, 2], got 3.0".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError

INT32_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class Range:
    """A closed or half-open numeric range; `high=None` is unbounded (display only: wire types bound it)."""

    low: float
    high: float | None = None
    low_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        low = _number_text(self.low)
        if self.high is None:
            return f"> {low}" if self.low_open else f">= {low}"
        return f"in {'(' if self.low_open else '['}{low}, {_number_text(self.high)}]"

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and (self.high is None or value <= self.high)

    def check(self, field: str, value):
        """Return `value` (an int for integer ranges) or raise InputError naming `field` and the range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "an integer" if self.integer else "a number"
            raise InputError(f"{field}: must be {kind}, got {value!r}")
        if self.integer and value != int(value):
            raise InputError(f"{field}: must be an integer, got {value!r}")
        if not math.isfinite(value):
            raise InputError(f"{field}: must be a finite number, got {value}")
        if not self.contains(value):
            raise InputError(f"{field}: must be {self.describe()}, got {value!r}")
        return int(value) if self.integer else value


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# The sampling limits, by the engine's field name. temperature 0 is greedy; top_k 0 and top_p 1
# turn those filters off; penalties follow OpenAI's ranges where it defines them.
MAX_TOKENS = Range(1, None, integer=True)
MIN_TOKENS = Range(0, None, integer=True)
TEMPERATURE = Range(0.0, 2.0)
TOP_K = Range(0, None, integer=True)
TOP_P = Range(0.0, 1.0, low_open=True)
REPETITION_PENALTY = Range(0.0, None, low_open=True)
PRESENCE_PENALTY = Range(-2.0, 2.0)
FREQUENCY_PENALTY = Range(-2.0, 2.0)
SEED = Range(0, UINT64_MAX, integer=True)
# Sibling sequences of one request (TensorRT-LLM's num_return_sequences, OpenAI's n). Each takes a
# batch slot of its own, so a request cannot ask for more than a decode batch's worth.
NUM_RETURN_SEQUENCES = Range(1, 16, integer=True)
# Prompt-lookup draft tokens verified per step (0: no speculation). A verify call computes 1 + this
# many positions; past a few, drafts are rarely all accepted and the call only costs more.
MAX_DRAFT_LEN = 8
SPECULATIVE_DRAFT_LEN = Range(0, MAX_DRAFT_LEN, integer=True)
# Text limits of preprocessing and postprocessing. The assembly writes them into those models'
# configs (python_backend/triton_io/model_configs.py), so a served repository states its own.
MAX_TEXT_BYTES = 65536  # a prompt's UTF-8 bytes, refused before tokenizing (tokenizing is the cost)
MAX_STOP_WORDS = 32  # entries of one request's stop_words, and of its bad_words
MAX_STOP_WORD_TOKENS = 32  # tokens of one stop or bad word
# Streaming detokenizers postprocessing holds at once; past it the least recently used is evicted.
MAX_STREAMS = 65536
# return_generation_logits sends a vocabulary-sized float32 row per token (196 KB for SmolLM2), all of
# them in one response when not streaming: this many is about 50 MB.
GENERATION_LOGITS_MAX_TOKENS = 256


def check_generation_logits(wanted: bool, max_tokens: int, field: str = "request_output_len") -> None:
    if wanted and max_tokens > GENERATION_LOGITS_MAX_TOKENS:
        raise InputError(
            f"return_generation_logits: at most {GENERATION_LOGITS_MAX_TOKENS} tokens of logits per "
            f"request; {field} is {max_tokens}"
        )


def check_context_logits(wanted: bool, prompt_tokens: int) -> None:
    """return_context_logits: the same bound on the prompt's rows."""
    if wanted and prompt_tokens > GENERATION_LOGITS_MAX_TOKENS:
        raise InputError(
            f"return_context_logits: at most {GENERATION_LOGITS_MAX_TOKENS} prompt tokens of logits; "
            f"the prompt has {prompt_tokens}"
        )


SAMPLING_LIMITS: dict[str, Range] = {
    "max_tokens": MAX_TOKENS,
    "min_tokens": MIN_TOKENS,
    "temperature": TEMPERATURE,
    "top_k": TOP_K,
    "top_p": TOP_P,
    "repetition_penalty": REPETITION_PENALTY,
    "presence_penalty": PRESENCE_PENALTY,
    "frequency_penalty": FREQUENCY_PENALTY,
    "seed": SEED,
    "speculative_draft_len": SPECULATIVE_DRAFT_LEN,
}


def check_min_tokens(min_tokens: int, max_tokens: int, field: str = "min_tokens") -> None:
    if min_tokens > max_tokens:
        raise InputError(f"{field}: must be <= max_tokens ({max_tokens}), got {min_tokens}")


def check_prompt_length(
    prompt_tokens: int, max_input_len: int, max_seq_len: int, field: str = "text_input"
) -> None:
    """A prompt needs at least one token, and room for at least one new token within the context.

    max_input_len is the longest prompt the engine takes: max_seq_len − 1 on the CPU engine; on a
    TensorRT-LLM engine without chunked context also at most max_num_tokens."""
    if prompt_tokens < 1:
        raise InputError(f"{field}: prompt must contain at least one token")
    if prompt_tokens > max_input_len:
        why = (
            f"max_seq_len {max_seq_len} leaves room for at least one new token"
            if max_input_len == max_seq_len - 1
            else f"the engine's longest input; max_seq_len {max_seq_len}"
        )
        raise InputError(f"{field}: prompt is {prompt_tokens} tokens; the limit is {max_input_len} ({why})")


def check_fits_context(
    prompt_tokens: int, max_tokens: int, max_seq_len: int, field: str = "max_tokens"
) -> None:
    """prompt + max_tokens must fit the engine's context (max_seq_len tokens in all)."""
    room = max_seq_len - prompt_tokens
    if max_tokens > room:
        raise InputError(
            f"{field}: {max_tokens} new tokens + {prompt_tokens} prompt tokens exceed max_seq_len "
            f"{max_seq_len}; at most {room} fit"
        )
