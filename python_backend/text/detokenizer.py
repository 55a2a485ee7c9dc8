"""Token ids → text deltas for streaming, exact for spaces and multi-byte UTF-8, O(1) per token.

Decoding one token at a time loses SentencePiece's leading spaces and splits multi-byte UTF-8
characters into U+FFFD (tensorrtllm_backend #34, #192, #606); re-decoding everything each step
(upstream's BLS `accumulate_tokens`) fixes that at O(n²). Here each step decodes only a short
window: the tokens since the last emitted text plus a few before them for context. Text is held
back while the window ends in an incomplete character.

Where the state lives (the GPU path's constraint): TensorRT-LLM's streaming responses carry only
the step's new tokens, and the ensemble calls `postprocessing` once per response. So the state is
kept in the postprocessing model, keyed by the request's `arrival_time_ns`, which both engines
return with every response (TensorRT-LLM when `return_perf_metrics` is set, which the GPU
repository's preprocessing always sets; our CPU engine always), its `batch_index` (each prompt of a
batched request is an engine request with an arrival time of its own; the index guards against two
equal clock readings) and its `sequence_index` (sibling sequences of num_return_sequences > 1 share
the arrival time). It cannot be a key minted by preprocessing: Triton refuses an ensemble step
whose inputs come from a decoupled model and from another model. The responses of one request must
reach the same process in order: postprocessing runs as one instance
(Python-backend instances are separate processes), whose queue keeps arrival order.
The alternatives were worse: a BLS orchestrator would replace the ensemble that tools such as
genai-perf call, and sending the whole context alongside each step would bring back the O(n²) cost.

A generation that stops inside a multi-byte character (max_tokens reached mid-emoji) ends at the
last complete character, streamed or not, so both modes return the same text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from ..contract.limits import MAX_STREAMS

REPLACEMENT = "\ufffd"
CONTEXT_TOKENS = 4  # tokens kept before the pending ones so a window decodes as it would in full text
MAX_HELD = 4  # a UTF-8 character has at most 4 bytes, so at most 4 byte-level tokens are held back


class IncrementalDetokenizer:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.tokens: list[int] = []
        self.prefix_offset = 0  # start of the decode window
        self.read_offset = 0  # tokens before this are already emitted as text
        self.num_tokens = 0  # all tokens seen, for token counts

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def step(self, new_ids: list[int]) -> str:
        """Add a response's tokens; return the text they complete (possibly '')."""
        if not new_ids:
            return ""
        self.tokens.extend(new_ids)
        self.num_tokens += len(new_ids)
        prefix_text = self._decode(self.tokens[self.prefix_offset : self.read_offset])
        # Hold back the tokens of an incomplete trailing character (at most 4 bytes, so at most 4
        # byte tokens), emitting everything before them.
        end = len(self.tokens)
        full_text = self._decode(self.tokens[self.prefix_offset : end])
        while (
            full_text.endswith(REPLACEMENT) and end > self.read_offset and len(self.tokens) - end < MAX_HELD
        ):
            end -= 1
            full_text = self._decode(self.tokens[self.prefix_offset : end])
        if full_text.endswith(REPLACEMENT) or end <= self.read_offset or len(full_text) <= len(prefix_text):
            return ""  # nothing complete yet: wait for more tokens
        delta = full_text[len(prefix_text) :]
        # Keep only a little context: the window, not the text so far, is what each step decodes.
        keep_from = max(end - CONTEXT_TOKENS, 0)
        self.tokens = self.tokens[keep_from:]
        self.prefix_offset = 0
        self.read_offset = end - keep_from
        return delta

    @property
    def pending(self) -> int:
        """Tokens held back (an incomplete character at the end)."""
        return len(self.tokens) - self.read_offset


def decode_all(tokenizer, ids: list[int]) -> str:
    """The non-streamed text of `ids`, by the same rules as streaming (so the two agree byte for byte)."""
    return IncrementalDetokenizer(tokenizer).step(list(ids))


class DetokenizerStore:
    """Per-sequence detokenizers keyed by (arrival_time_ns, batch_index, sequence_index), bounded in
    size; cancellations are keyed by arrival_time_ns alone (one per prompt).

    A request's entry is dropped on its final (empty) response when the engine sends one (the CPU
    engine always does when streaming); other entries (non-streamed requests, TensorRT-LLM
    streams) are evicted least recently used first past `capacity`. An entry is a few token ids."""

    def __init__(self, tokenizer, capacity: int = MAX_STREAMS):
        self.tokenizer = tokenizer
        self.capacity = capacity
        self._states: OrderedDict[Hashable, IncrementalDetokenizer] = OrderedDict()
        self._cancelled: OrderedDict[Hashable, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: Hashable) -> IncrementalDetokenizer:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = IncrementalDetokenizer(self.tokenizer)
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)
        return state

    def pop(self, key: Hashable) -> None:
        self._states.pop(key, None)

    def cancel(self, key: Hashable) -> bool:
        """Forget a cancelled stream. True only the first time `key` is cancelled: once the client
        is gone the ensemble still calls postprocessing (with a cancelled request) for every token
        the engine produced before it stopped, and the engine must be told only once."""
        self._states.pop(key, None)
        if key in self._cancelled:
            return False
        self._cancelled[key] = None
        while len(self._cancelled) > self.capacity:
            self._cancelled.popitem(last=False)
        return True
