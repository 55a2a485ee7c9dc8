"""Per-request samples → one benchmark row (definitions as genai-perf / vLLM's benchmark)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sample:
    ttft_s: float  # send → first token
    e2e_s: float  # send → last token
    output_tokens: int
    # A streamed request's responses that brought tokens: (seconds since send, tokens so far), in
    # arrival order; empty when the row's path does not stream through Triton.
    responses: tuple[tuple[float, int], ...] = ()

    @property
    def tpot_s(self) -> float | None:
        """(E2E − TTFT) / (tokens − 1); undefined for a single token."""
        if self.output_tokens < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)

    @property
    def chunks(self) -> list[int]:
        """Tokens per response (the framing: 1, 1, 1, … at stream_interval 1)."""
        counts = [count for _, count in self.responses]
        return [after - before for before, after in zip([0, *counts], counts, strict=False)]

    @property
    def gaps_s(self) -> list[float]:
        """Inter-chunk latency: seconds between one response that brought tokens and the next."""
        times = [at for at, _ in self.responses]
        return [after - before for before, after in zip(times, times[1:], strict=False)]


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
        **framing(samples),
    }


def framing(samples: list[Sample]) -> dict:
    """How a streamed row's tokens were framed: tokens per response (mean, p50, max) and the latency
    between responses (p50, p99), over every response of every request; {} for a row that does
    not stream through Triton. The first response is counted too (one token, unless the first
    engine step produced more, as speculation can)."""
    chunks = np.array([c for s in samples for c in s.chunks])
    gaps = np.array([g for s in samples for g in s.gaps_s])
    if not chunks.size:
        return {}
    return {
        "tokens_per_response_mean": round(float(chunks.mean()), 2),
        "tokens_per_response_p50": float(np.percentile(chunks, 50)),
        "tokens_per_response_max": int(chunks.max()),
        "icl_p50_s": round(float(np.percentile(gaps, 50)), 5) if gaps.size else None,
        "icl_p99_s": round(float(np.percentile(gaps, 99)), 5) if gaps.size else None,
    }


def framing_lines(rows: list[dict]) -> list[str]:
    """The framing of every row that has one, as a Markdown table (bench/report.py prints it)."""
    framed = [r for r in rows if "tokens_per_response_mean" in r]
    if not framed:
        return []
    lines = [
        "| engine | precision | concurrency | tokens/response mean | p50 | max | ICL p50 s | ICL p99 s |",
        "|" + "---|" * 8,
    ]
    for r in framed:
        lines.append(
            f"| {r['engine']} | {r['precision']} | {r['concurrency']} | {r['tokens_per_response_mean']} "
            f"| {r['tokens_per_response_p50']} | {r['tokens_per_response_max']} "
            f"| {r['icl_p50_s']} | {r['icl_p99_s']} |"
        )
    return lines
