"""Multi-token stop words, matched by the engine model over the tokens the LLM API streams.

Why here: TensorRT-LLM 1.2.1's SamplingParams takes stop words as `stop` strings (tokenized with
the tokenizer the engine model does not load: skip_tokenizer_init) or as single `stop_token_ids`.
So a stop word of several tokens is matched here, as the C++ executor matches it: over the
generated tokens only (not the prompt), after each new token, the earliest match winning; the output
keeps the stop word and ends with it. The frontend then aborts the request in the executor; any
tokens the LLM API generated past the match are never sent.
"""

from __future__ import annotations


class StopMatcher:
    def __init__(self, sequences: tuple[tuple[int, ...], ...]):
        self.sequences = [list(s) for s in sequences if s]

    def __bool__(self) -> bool:
        return bool(self.sequences)

    def cut(self, generated: list[int], checked: int) -> int | None:
        """The output length to keep when a stop word ends at a token after the first `checked`
        (the earliest such end), else None."""
        for end in range(max(checked, 0) + 1, len(generated) + 1):
            for word in self.sequences:
                if end >= len(word) and generated[end - len(word) : end] == word:
                    return end
        return None
