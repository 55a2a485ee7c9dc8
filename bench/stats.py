"""Per-request samples → one benchmark row (definitions as genai-perf / vLLM's benchmark)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sample:
    ttft_s: float  # send → first token
    e2e_s: float  # send → last token
    output_tokens: int

    @property
    def tpot_s(self) -> float | None:
        """(E2E − TTFT) / (tokens − 1); undefined for a single token."""
        if self.output_tokens < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)


def row(engine: str, precision: str, concurrency: int, samples: list[Sample], wall_s: float) -> dict:
    ttft = np.array([s.ttft_s for s in samples])
    tpot = np.array([s.tpot_s for s in samples if s.tpot_s is not None])
    tokens = sum(s.output_tokens for s in samples)
    return {
        "engine": engine,
        "precision": precision,
        "concurrency": concurrency,
        "requests": len(samples),
        "output_tokens": tokens,
        "wall_s": round(wall_s, 3),
        "output_tok_s": round(tokens / wall_s, 2),
        "ttft_p50_s": round(float(np.percentile(ttft, 50)), 4),
        "ttft_p99_s": round(float(np.percentile(ttft, 99)), 4),
        "tpot_p50_s": round(float(np.percentile(tpot, 50)), 5) if tpot.size else None,
        "tpot_p99_s": round(float(np.percentile(tpot, 99)), 5) if tpot.size else None,
    }
