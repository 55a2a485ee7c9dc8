"""Token selection as small pure functions over one row of logits.

apply_penalties → mask_tokens → (greedy | logits_to_probs → sample). Each request carries its own
`numpy.random.Generator` seeded from its `seed`, so a seeded request draws the same tokens whatever
else shares its batch.
"""

from __future__ import annotations

import numpy as np

from .sequence import SamplingParams, Sequence


def apply_penalties(logits: np.ndarray, generated: list[int], params: SamplingParams) -> np.ndarray:
    """Repetition (multiplicative, on every seen token), presence and frequency (additive) penalties."""
    if not generated or not params.penalized:
        return logits
    logits = logits.copy()
    ids, counts = np.unique(np.asarray(generated, dtype=np.int64), return_counts=True)
    if params.repetition_penalty != 1.0:
        seen = logits[ids]
        logits[ids] = np.where(seen > 0, seen / params.repetition_penalty, seen * params.repetition_penalty)
    if params.presence_penalty != 0.0:
        logits[ids] -= params.presence_penalty
    if params.frequency_penalty != 0.0:
        logits[ids] -= params.frequency_penalty * counts
    return logits


def mask_tokens(logits: np.ndarray, token_ids: tuple[int, ...]) -> np.ndarray:
    """Forbid `token_ids` (used to hold back end ids until min_tokens is reached)."""
    if not token_ids:
        return logits
    logits = logits.copy()
    logits[list(token_ids)] = -np.inf
    return logits


def logits_to_probs(logits: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """Temperature, then top-k, then top-p (nucleus) filtering; returns a probability vector."""
    scaled = logits.astype(np.float64) / temperature
    if 0 < top_k < scaled.shape[-1]:
        kth = np.partition(scaled, -top_k)[-top_k]
        scaled = np.where(scaled < kth, -np.inf, scaled)
    scaled -= scaled.max()
    probs = np.exp(scaled)
    probs /= probs.sum()
    if top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        # Keep the smallest prefix whose mass reaches top_p (always at least the top token).
        keep = int(np.searchsorted(cumulative, top_p)) + 1
        filtered = np.zeros_like(probs)
        filtered[order[:keep]] = probs[order[:keep]]
        probs = filtered / filtered.sum()
    return probs


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    return int(rng.choice(probs.shape[-1], p=probs))


def banned_tokens(tokens: list[int], bad_sequences: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """The tokens that would complete a bad sequence now: each one's last token, when the tokens
    before it end `tokens` (prompt and output so far; a one-token bad word is always banned)."""
    banned = []
    for bad in bad_sequences:
        head = len(bad) - 1
        if head == 0 or (len(tokens) >= head and tuple(tokens[-head:]) == bad[:-1]):
            banned.append(bad[-1])
    return tuple(banned)


def add_bias(logits: np.ndarray, bias: tuple[tuple[int, float], ...]) -> np.ndarray:
    """TensorRT-LLM's embedding_bias: a value added to some tokens' logits before sampling."""
    if not bias:
        return logits
    logits = logits.copy()
    ids, values = zip(*bias, strict=True)
    logits[list(ids)] += np.asarray(values, dtype=logits.dtype)
    return logits


def select_token(
    logits: np.ndarray,
    generated: list[int],
    params: SamplingParams,
    rng: np.random.Generator,
    forbid: tuple[int, ...] = (),
) -> int:
    logits = mask_tokens(apply_penalties(add_bias(logits, params.logit_bias), generated, params), forbid)
    if params.greedy:
        return int(np.argmax(logits))
    return sample(logits_to_probs(logits, params.temperature, params.top_k, params.top_p), rng)


def token_log_prob(logits: np.ndarray, token: int) -> float:
    """log softmax(logits)[token], in float64: the model's own distribution (no temperature, penalty
    or mask), what OpenAI's and vLLM's logprobs report."""
    row = logits.astype(np.float64)
    top = row.max()
    return float(row[token] - top - np.log(np.exp(row - top).sum()))


def next_token(seq: Sequence, logits: np.ndarray, accepted: list[int] | None = None) -> int:
    """The sequence's next token; its end ids are forbidden until it has min_tokens, and a guided
    sequence picks only tokens its grammar allows (the mask comes last, so nothing undoes it).
    `accepted`: tokens drawn earlier in this step and not appended yet (a verify's accepted draft),
    seen as context after seq.tokens. Returns the token; what else the caller keeps of the draw
    (log prob, logits row) it takes from the same logits."""
    tokens = seq.tokens + accepted if accepted else seq.tokens
    params = seq.params
    generated = tokens[seq.num_prompt :]
    forbid = (params.end_ids if len(generated) < params.min_tokens else ()) + banned_tokens(
        tokens, params.bad_sequences
    )
    if seq.grammar is None:
        return select_token(logits, generated, params, seq.rng, forbid)
    allowed = seq.grammar.allowed()
    if forbid and allowed[list(forbid)].any() and allowed.sum() > np.count_nonzero(allowed[list(forbid)]):
        allowed[list(forbid)] = False  # min_tokens holds the end back while the grammar can go on
    token = select_token(np.where(allowed, logits, -np.inf), generated, params, seq.rng)
    seq.grammar.accept(token)
    return token


def accept_draft(seq: Sequence, logits: np.ndarray, draft: list[int]) -> list[int]:
    """The tokens a verify call yields: logits[i] follows the sequence extended by draft[:i]
    ([len(draft) + 1, V]). Position i draws its token exactly as plain decoding would (same
    filters, same generator); the draft token is accepted when that draw equals it, and the first
    draw that differs, or the draw after the whole draft, ends the step.

    For a prompt-lookup draft (a single proposed token, probability 1) this is the standard
    acceptance rule: draft token d is kept with probability p(d) = min(1, p(d)/q(d)), and on
    rejection the token comes from p without d, i.e. normalised max(0, p - q). Drawing it this way
    also spends the generator exactly as plain decoding does, so a seeded request, and a greedy
    one, produce the same tokens with speculation on or off. The draws see the accepted tokens
    as context (penalties, bad words, min_tokens, grammar); the sequence itself is left as it was:
    the scheduler appends what it keeps, applying the finish rules."""
    out: list[int] = []
    for i, row in enumerate(logits):
        token = next_token(seq, row, out)
        out.append(token)
        if i == len(draft) or token != draft[i] or token in seq.params.end_ids:
            break
    return out
