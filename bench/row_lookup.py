"""Finding a run's rows by what they measured, for the report's ratio lines (report.py, ov_ratios.py)."""

from __future__ import annotations


def find(rows, engine, precision=None, concurrency=None):
    """The first row of `engine` (at `precision` and `concurrency` when given), not counting the rows of
    alternating rounds (bench/peers/paired.py), which only median() and their own lines read."""
    for r in rows:
        if (
            r["engine"] == engine
            and (precision is None or r["precision"] == precision)
            and (concurrency is None or r["concurrency"] == concurrency)
            and "paired" not in r
        ):
            return r
    return None


def median(rows, engine, precision, concurrency):
    """The row of median throughput among every row of `engine` at `precision` and `concurrency`,
    alternating rounds included (the middle one of three; of two, the faster); None if there is none."""
    matching = sorted(
        (
            r
            for r in rows
            if r["engine"] == engine and r["precision"] == precision and r["concurrency"] == concurrency
        ),
        key=lambda r: r["output_tok_s"],
    )
    return matching[len(matching) // 2] if matching else None


def times(row, other) -> str:
    return f"{row['output_tok_s'] / other['output_tok_s']:.2f}×"


def paired_ratios(rows, pairing: str, ours: str) -> list[float]:
    """Each alternating round's `ours` row / the other row of the round, output tok/s, in round order,
    among the rows whose `paired` is `pairing` (bench/peers/paired.py, bench/overhead_rounds.py);
    empty when none ran."""
    by_round: dict[int, dict[bool, float]] = {}
    for r in rows:
        if r.get("paired") == pairing:
            by_round.setdefault(r["round"], {})[r["engine"] == ours] = r["output_tok_s"]
    return [pair[True] / pair[False] for _, pair in sorted(by_round.items()) if len(pair) == 2]
