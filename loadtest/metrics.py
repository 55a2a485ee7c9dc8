"""Per-request samples → the load test's figures, as genai-perf and vLLM's benchmark define them.

Pure functions over plain values, no Locust and no I/O, so every figure in `summary.json` can be
checked by hand (tests/loadtest/test_loadtest_metrics.py does).

    TTFT       = first non-empty response − send
    E2E        = final response − send
    TPOT       = (E2E − TTFT) / (output tokens − 1)        (genai-perf: "inter-token latency")
    gaps       = time between consecutive non-empty responses of one request
    window     = last final response − first send          (over the measured requests)
    throughput = Σ output tokens of successful requests / window; requests/s likewise
    goodput    = successful requests meeting every SLO / window

Percentiles are computed from the raw per-request values with linear interpolation between
closest ranks (numpy's default, which vLLM's benchmark uses), never from Locust's histogram,
which rounds stored response times above 100 ms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PERCENTILES = (50, 90, 95, 99)
SLO_METRICS = ("ttft", "tpot", "e2e")

OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"


@dataclass
class Record:
    """One request as the load generator saw it. Times are seconds; `send_s` is wall-clock epoch."""

    send_s: float
    status: str = OK  # ok | error | timeout
    ttft_s: float | None = None  # None: no non-empty response arrived
    e2e_s: float | None = None  # None: no final response arrived
    output_tokens: int = 0  # the server's token_count on its last response
    chunk_offsets_s: list[float] = field(default_factory=list)  # send → each non-empty response
    stage: int = 0  # ramp stage the request was scheduled in (0 when there is one stage)
    scheduled_s: float | None = None  # open loop: when the arrival process wanted it sent
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def tpot_s(self) -> float | None:
        return tpot(self.e2e_s, self.ttft_s, self.output_tokens)

    @property
    def end_s(self) -> float | None:
        return None if self.e2e_s is None else self.send_s + self.e2e_s


# -- single-request math --------------------------------------------------------------------------
def tpot(e2e_s: float | None, ttft_s: float | None, output_tokens: int) -> float | None:
    """(E2E − TTFT) / (tokens − 1); undefined (None) below two tokens or without both times."""
    if e2e_s is None or ttft_s is None or output_tokens < 2:
        return None
    return (e2e_s - ttft_s) / (output_tokens - 1)


def chunk_gaps(offsets_s: Sequence[float]) -> list[float]:
    """Gaps between consecutive non-empty responses (offsets are send → response, ascending)."""
    return [b - a for a, b in zip(offsets_s, offsets_s[1:], strict=False)]


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between closest ranks.

    rank = (n − 1)·p/100; the value is x[⌊rank⌋] + (rank − ⌊rank⌋)·(x[⌊rank⌋+1] − x[⌊rank⌋]).
    """
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be in 0..100, got {p}")
    xs = sorted(values)
    rank = (len(xs) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (rank - low) * (xs[high] - xs[low])


def distribution(values: Iterable[float | None]) -> dict:
    """count, mean, min, max and p50/p90/p95/p99 of the defined values (None is skipped)."""
    xs = [v for v in values if v is not None]
    if not xs:
        return {"count": 0}
    out = {"count": len(xs), "mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs)}
    out.update({f"p{p}": percentile(xs, p) for p in PERCENTILES})
    return out


# -- SLOs -----------------------------------------------------------------------------------------
def parse_slos(items: Iterable[str]) -> dict[str, float]:
    """["ttft=0.5", "tpot=0.05"] → {"ttft": 0.5, "tpot": 0.05} (seconds; a suffix "ms" is accepted)."""
    slos: dict[str, float] = {}
    for item in items:
        for part in item.replace(",", " ").split():
            name, sep, value = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in SLO_METRICS:
                raise ValueError(
                    f"SLO {part!r}: expected NAME=SECONDS with NAME one of {', '.join(SLO_METRICS)}"
                )
            scale = 1.0
            if value.endswith("ms"):
                value = value[:-2]
                scale = 1e-3
            elif value.endswith("s"):
                value = value[:-1]
            try:
                seconds = float(value) * scale
            except ValueError:
                raise ValueError(f"SLO {part!r}: {value!r} is not a number of seconds") from None
            if not seconds > 0:
                raise ValueError(f"SLO {part!r}: the limit must be > 0")
            slos[name] = seconds
    return slos


def meets_slos(record: Record, slos: dict[str, float]) -> bool:
    """A successful request within every limit. TPOT is undefined below two tokens: it cannot miss
    (vLLM's goodput counts such a request's TPOT as 0)."""
    if not record.ok:
        return False
    values = {"ttft": record.ttft_s, "e2e": record.e2e_s, "tpot": record.tpot_s}
    for name, limit in slos.items():
        value = values[name]
        if value is None:
            if name == "tpot":
                continue
            return False
        if value > limit:
            return False
    return True


# -- whole-run figures ----------------------------------------------------------------------------
def window(records: Sequence[Record]) -> float | None:
    """last final response − first send, over all requests that got a final response."""
    ends = [r.end_s for r in records if r.end_s is not None]
    if not records or not ends:
        return None
    return max(ends) - min(r.send_s for r in records)


def cost(price_per_hour: float | None, window_s: float | None, output_tokens: int, successes: int) -> dict:
    """Cost of the measured window at `price_per_hour`, per million output tokens and per success."""
    if price_per_hour is None or not window_s:
        return {}
    spent = price_per_hour * window_s / 3600
    return {
        "price_per_hour": price_per_hour,
        "window_cost": spent,
        "per_million_output_tokens": spent / output_tokens * 1e6 if output_tokens else None,
        "per_successful_request": spent / successes if successes else None,
    }


def summarize(
    records: Sequence[Record],
    slos: dict[str, float] | None = None,
    price_per_hour: float | None = None,
    target_rate: float | None = None,
) -> dict:
    """The run's figures; every duration in seconds, every rate per second."""
    slos = slos or {}
    attempted = len(records)
    ok = [r for r in records if r.ok]
    w = window(records)
    tokens = sum(r.output_tokens for r in ok)
    good = sum(1 for r in ok if meets_slos(r, slos))
    gaps = [g for r in ok for g in chunk_gaps(r.chunk_offsets_s)]
    out = {
        "requests": {
            "attempted": attempted,
            "succeeded": len(ok),
            "errors": sum(1 for r in records if r.status == ERROR),
            "timeouts": sum(1 for r in records if r.status == TIMEOUT),
            "error_rate": _ratio(sum(1 for r in records if r.status == ERROR), attempted),
            "timeout_rate": _ratio(sum(1 for r in records if r.status == TIMEOUT), attempted),
        },
        "window_s": w,
        "output_tokens": tokens,
        "output_token_throughput": tokens / w if w else 0.0,
        "request_throughput": len(ok) / w if w else 0.0,
        "ttft_s": distribution(r.ttft_s for r in ok),
        "tpot_s": distribution(r.tpot_s for r in ok),
        "e2e_s": distribution(r.e2e_s for r in ok),
        "inter_chunk_gap_s": distribution(gaps),
        "output_tokens_per_request": distribution(r.output_tokens for r in ok),
        "slos": dict(slos),
        "slo_met": good,
        "slo_attainment": _ratio(good, attempted),
        "goodput": good / w if w else 0.0,
        "cost": cost(price_per_hour, w, tokens, len(ok)),
    }
    if target_rate is not None:
        out["arrival_rate"] = arrival_rate(records, target_rate)
    return out


def arrival_rate(records: Sequence[Record], target_rate: float) -> dict:
    """Open loop: achieved send rate vs the target, and how late sends were against the schedule.

    Achieved = (requests − 1) / (last send − first send): the rate of the arrival process itself,
    not counting the time the last request took. Lateness > 0 means the load generator ran out of
    concurrency (all users busy) and sent after the Poisson process asked."""
    sends = sorted(r.send_s for r in records)
    achieved = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 and sends[-1] > sends[0] else 0.0
    late = [r.send_s - r.scheduled_s for r in records if r.scheduled_s is not None]
    return {
        "target": target_rate,
        "achieved": achieved,
        "achieved_over_target": achieved / target_rate if target_rate else None,
        "send_lateness_s": distribution(late),
    }


def stage_results(
    records: Sequence[Record], rates: Sequence[float], slos: dict[str, float], attainment: float
) -> list[dict]:
    """Ramp: per stage, its target rate, achieved figures and whether it met the SLOs."""
    results = []
    for index, rate in enumerate(rates):
        in_stage = [r for r in records if r.stage == index]
        summary = summarize(in_stage, slos, target_rate=rate) if in_stage else None
        passed = bool(summary) and summary["slo_attainment"] >= attainment
        results.append({"stage": index, "target_rate": rate, "passed": passed, "summary": summary})
    return results


def max_rate_meeting_slos(stages: Sequence[dict]) -> float | None:
    """The highest target rate of a passing stage below the first failing one (None if the first fails).

    Stages run in increasing rate; a pass after a failure is noise, not capacity."""
    best = None
    for stage in stages:
        if not stage["passed"]:
            break
        best = stage["target_rate"]
    return best


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
