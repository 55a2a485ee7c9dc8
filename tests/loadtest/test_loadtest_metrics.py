"""The load test's metric math on hand-made samples, with exact expected values."""

from __future__ import annotations

import pytest

from loadtest import metrics
from loadtest.metrics import ERROR, OK, TIMEOUT, Record


def make_record(send=0.0, ttft=0.1, e2e=1.0, tokens=10, status=OK, offsets=None, **kw) -> Record:
    return Record(
        send_s=send,
        status=status,
        ttft_s=ttft,
        e2e_s=e2e if status == OK else None,
        output_tokens=tokens,
        chunk_offsets_s=offsets or [],
        **kw,
    )


# -- percentiles ------------------------------------------------------------------------------------
def test_percentile_interpolates_between_closest_ranks():
    xs = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    # rank = (n-1)·p/100 = 3·0.5 = 1.5 → halfway between 2 and 3
    assert metrics.percentile(xs, 50) == 2.5
    # 3·0.9 = 2.7 → 3 + 0.7·(4−3)
    assert metrics.percentile(xs, 90) == pytest.approx(3.7)
    assert metrics.percentile(xs, 0) == 1.0
    assert metrics.percentile(xs, 100) == 4.0


def test_percentiles_of_one_to_hundred_one():
    xs = list(range(1, 102))  # 101 values: rank = p exactly, so pN is N+1
    d = metrics.distribution(xs)
    assert (d["p50"], d["p90"], d["p95"], d["p99"]) == (51, 91, 96, 100)
    assert d["count"] == 101 and d["mean"] == 51 and d["min"] == 1 and d["max"] == 101


def test_percentile_matches_numpy_default():
    np = pytest.importorskip("numpy")
    xs = [0.31, 0.05, 1.7, 0.2, 0.9, 0.44, 2.5]
    for p in (50, 90, 95, 99):
        assert metrics.percentile(xs, p) == pytest.approx(float(np.percentile(xs, p)))


def test_percentile_single_value_and_errors():
    assert metrics.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        metrics.percentile([], 50)
    with pytest.raises(ValueError):
        metrics.percentile([1.0], 101)


def test_distribution_skips_undefined_values():
    assert metrics.distribution([None, 2.0, None]) == {
        "count": 1,
        "mean": 2.0,
        "min": 2.0,
        "max": 2.0,
        "p50": 2.0,
        "p90": 2.0,
        "p95": 2.0,
        "p99": 2.0,
    }
    assert metrics.distribution([None]) == {"count": 0}


# -- per-request ------------------------------------------------------------------------------------
def test_tpot_is_decode_time_over_tokens_after_the_first():
    # 1.0 s total, first token at 0.1 s, 10 tokens: 9 tokens in 0.9 s
    assert metrics.tpot(1.0, 0.1, 10) == pytest.approx(0.1)
    assert metrics.tpot(1.0, 0.1, 1) is None  # undefined for one token
    assert metrics.tpot(None, 0.1, 10) is None


def test_chunk_gaps():
    assert metrics.chunk_gaps([0.1, 0.25, 0.3, 0.7]) == pytest.approx([0.15, 0.05, 0.4])
    assert metrics.chunk_gaps([0.1]) == []


# -- SLOs -------------------------------------------------------------------------------------------
def test_parse_slos():
    assert metrics.parse_slos(["ttft=0.5", "tpot=50ms", "e2e=10s"]) == {
        "ttft": 0.5,
        "tpot": 0.05,
        "e2e": 10.0,
    }
    assert metrics.parse_slos(["ttft=0.5,tpot=0.05"]) == {"ttft": 0.5, "tpot": 0.05}
    for bad in (["latency=1"], ["ttft"], ["ttft=abc"], ["ttft=0"]):
        with pytest.raises(ValueError):
            metrics.parse_slos(bad)


def test_meets_slos():
    slos = {"ttft": 0.5, "tpot": 0.05}
    assert metrics.meets_slos(make_record(ttft=0.5, e2e=0.95, tokens=10), slos)  # tpot exactly 0.05: met
    assert not metrics.meets_slos(make_record(ttft=0.51, e2e=0.6, tokens=10), slos)
    assert not metrics.meets_slos(make_record(ttft=0.1, e2e=1.0, tokens=10), slos)  # tpot 0.1
    assert metrics.meets_slos(make_record(ttft=0.1, e2e=0.1, tokens=1), slos)  # no TPOT for one token
    assert not metrics.meets_slos(make_record(status=ERROR), slos)


# -- whole run --------------------------------------------------------------------------------------
def run_records() -> list[Record]:
    """Four requests over a 4-second window; one error, one timeout.

    send  ttft  e2e  tokens  tpot                 end
    0.0   0.2   1.2  11      (1.2−0.2)/10 = 0.1   1.2
    1.0   0.4   3.0  6       (3.0−0.4)/5  = 0.52  4.0   ← last final response
    1.5   0.3   0.8  6       (0.8−0.3)/5  = 0.1   2.3
    2.0   error
    2.5   timeout
    """
    return [
        make_record(0.0, 0.2, 1.2, 11, offsets=[0.2, 0.3, 0.5]),
        make_record(1.0, 0.4, 3.0, 6, offsets=[0.4, 1.0]),
        make_record(1.5, 0.3, 0.8, 6),
        make_record(2.0, None, None, 0, status=ERROR, error="boom"),
        make_record(2.5, None, None, 0, status=TIMEOUT),
    ]


def test_summary_throughput_and_rates():
    s = metrics.summarize(run_records())
    assert s["window_s"] == 4.0  # last final response (4.0) − first send (0.0)
    assert s["output_tokens"] == 23  # 11 + 6 + 6, successful requests only
    assert s["output_token_throughput"] == 23 / 4
    assert s["request_throughput"] == 3 / 4
    assert s["requests"] == {
        "attempted": 5,
        "succeeded": 3,
        "errors": 1,
        "timeouts": 1,
        "error_rate": 0.2,
        "timeout_rate": 0.2,
    }
    assert s["ttft_s"]["p50"] == 0.3 and s["ttft_s"]["max"] == 0.4
    assert s["e2e_s"]["p50"] == 1.2
    # TPOT samples 0.1, 0.52, 0.1 → sorted 0.1, 0.1, 0.52; p50 = 0.1, p90: rank 1.8 → 0.1 + 0.8·0.42
    assert s["tpot_s"]["p50"] == pytest.approx(0.1)
    assert s["tpot_s"]["p90"] == pytest.approx(0.436)
    # gaps 0.1, 0.2 (request 1) and 0.6 (request 2)
    assert s["inter_chunk_gap_s"]["count"] == 3
    assert s["inter_chunk_gap_s"]["p50"] == pytest.approx(0.2)


def test_goodput_counts_requests_meeting_every_slo():
    s = metrics.summarize(run_records(), {"ttft": 0.35, "tpot": 0.2})
    # request 1: ttft 0.2, tpot 0.1 → met; request 2: tpot 0.52 → missed; request 3: met;
    # the error and the timeout count as missed
    assert s["slo_met"] == 2
    assert s["slo_attainment"] == 2 / 5
    assert s["goodput"] == 2 / 4.0


def test_cost():
    s = metrics.summarize(run_records(), price_per_hour=3.6)
    # 3.6 $/h for 4 s = 0.004 $; 23 tokens → 0.004/23·1e6 $ per million; 3 successes
    assert s["cost"]["window_cost"] == pytest.approx(0.004)
    assert s["cost"]["per_million_output_tokens"] == pytest.approx(0.004 / 23 * 1e6)
    assert s["cost"]["per_successful_request"] == pytest.approx(0.004 / 3)
    assert metrics.summarize(run_records())["cost"] == {}


def test_arrival_rate_achieved_vs_target():
    records = [
        make_record(send=t, scheduled_s=t - late) for t, late in ((10.0, 0.0), (10.5, 0.1), (12.0, 0.2))
    ]
    a = metrics.arrival_rate(records, target_rate=2.0)
    assert a["achieved"] == 1.0  # 2 intervals in 2 s
    assert a["achieved_over_target"] == 0.5
    assert a["send_lateness_s"]["max"] == pytest.approx(0.2)


def test_empty_and_failed_runs_do_not_divide_by_zero():
    s = metrics.summarize([make_record(status=ERROR)])
    assert s["window_s"] is None and s["output_token_throughput"] == 0.0 and s["goodput"] == 0.0
    assert s["ttft_s"] == {"count": 0}


def test_ramp_stages_and_max_rate():
    slos = {"ttft": 0.5}
    records = (
        [make_record(send=i, ttft=0.1, stage=0) for i in range(4)]
        + [make_record(send=10 + i, ttft=0.2, stage=1) for i in range(4)]
        + [make_record(send=20 + i, ttft=0.9 if i else 0.1, stage=2) for i in range(4)]
    )
    stages = metrics.stage_results(records, [1.0, 2.0, 3.0], slos, attainment=0.9)
    assert [s["passed"] for s in stages] == [True, True, False]  # stage 2: 1 of 4 met
    assert metrics.max_rate_meeting_slos(stages) == 2.0
    # a pass after a failure does not count
    assert (
        metrics.max_rate_meeting_slos(
            [
                {"passed": True, "target_rate": 1},
                {"passed": False, "target_rate": 2},
                {"passed": True, "target_rate": 3},
            ]
        )
        == 1
    )
    assert metrics.max_rate_meeting_slos([{"passed": False, "target_rate": 1}]) is None
