"""Prompt-lookup drafting (n-gram speculation): guess a sequence's next tokens from its own past.

Text that quotes or summarises its prompt repeats runs of it. The drafter takes the longest suffix
of the sequence (prompt and output, up to `max_ngram` tokens, down to MIN_NGRAM) that occurred
earlier, and proposes the tokens that followed its latest earlier occurrence. The model then checks the
whole guess in one call (runner.verify, sampler.accept_draft); a wrong guess costs that call's
extra positions, never a wrong token.
"""

from __future__ import annotations

# A single repeated token is weak evidence: on the bench's summaries, matching down to 1-grams
# drafted twice as many tokens and kept 28 % of them, against 51 % from 2-grams up, for the same
# accepted total (docs/PERFORMANCE.md). Wasted draft positions are what a verify call pays for.
MIN_NGRAM = 2


def propose(tokens: list[int], max_ngram: int, max_len: int) -> list[int]:
    """Up to `max_len` draft tokens continuing `tokens`, or [] when no suffix n-gram recurs."""
    if max_len <= 0:
        return []
    n_tokens = len(tokens)
    for n in range(min(max_ngram, n_tokens - 1), MIN_NGRAM - 1, -1):
        suffix = tokens[n_tokens - n :]
        first = suffix[0]
        # Latest occurrence first: in a summary or a quote, the most recent match is the passage
        # being copied. The occurrence must end before the suffix itself starts being matched.
        for i in range(n_tokens - n - 1, -1, -1):
            if tokens[i] == first and tokens[i : i + n] == suffix:
                return tokens[i + n : i + n + max_len]
    return []
