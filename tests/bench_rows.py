"""A benchmark row as bench/stats.py's row() makes it, for the tests of the report's ratio lines: only
the figures a ratio reads vary (engine, precision, output tok/s, and any extra keys such as an
alternating round's `paired` and `round`)."""


def bench_row(engine: str, precision: str, tok_s: float, **keys) -> dict:
    return {
        "engine": engine,
        "precision": precision,
        "concurrency": 16,
        "output_tok_s": tok_s,
        "ttft_p50_s": 0.1,
        "ttft_p99_s": 0.2,
        "tpot_p50_s": 0.01,
        "tpot_p99_s": 0.02,
        **keys,
    }
