"""Token selection as small pure functions over one row of logits.

apply_penalties → mask_tokens → (greedy | logits_to_probs → sample). Each request carries its own
`numpy.random.Generator` seeded from its `seed`, so a seeded request draws the same tokens whatever
else shares its batch.
"""

from __future__ import annotations

import numpy as np

from .sequence import SamplingParams


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


def select_token(logits: np.ndarray, generated: list[int], params: SamplingParams, rng: np.random.Generator,
                 forbid: tuple[int, ...] = ()) -> int:
    logits = mask_tokens(apply_penalties(logits, generated, params), forbid)
    if params.greedy:
        return int(np.argmax(logits))
    return sample(logits_to_probs(logits, params.temperature, params.top_k, params.top_p), rng)
