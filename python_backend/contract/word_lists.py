"""TensorRT-LLM's stop/bad words tensor format, which preprocessing writes and the engines read."""

from __future__ import annotations

import numpy as np


def to_word_list(sequences: list[list[int]]) -> np.ndarray:
    """TensorRT-LLM's stop/bad words format: int32 [2, N]; row 0 the concatenated ids, row 1 the
    end offset of each sequence, padded with -1. No sequences gives [[0], [-1]]."""
    flat = [t for seq in sequences for t in seq]
    offsets = np.cumsum([len(s) for s in sequences]).tolist()
    width = max(len(flat), len(offsets), 1)
    out = np.full((2, width), -1, dtype=np.int32)
    out[0, :] = 0
    out[0, : len(flat)] = flat
    out[1, : len(offsets)] = offsets
    return out


def from_word_list(words: np.ndarray) -> list[list[int]]:
    """Inverse of to_word_list (accepts [2, N] or [1, 2, N])."""
    words = np.asarray(words).reshape(2, -1)
    sequences, start = [], 0
    for end in words[1]:
        if end < 0:
            break
        sequences.append(words[0, start:end].tolist())
        start = int(end)
    return sequences
