"""The shipped prompts, the length distributions, the arrival process, the CLI parsing and the
comparison math."""

from __future__ import annotations

import collections
import json
import random

import pytest

from loadtest import arrivals, dataset, report
from loadtest.compare import greedy_agreement
from loadtest.metrics import Record
from loadtest.run import RunConfig, parse_duration


def test_shipped_prompts_mix_short_long_and_multi_turn():
    prompts = dataset.load()
    kinds = collections.Counter(p.kind for p in prompts)
    assert len(prompts) == 60 and kinds == {"short": 25, "long": 15, "chat": 20}
    assert len({p.id for p in prompts}) == 60
    assert all(p.messages[-1]["role"] == "user" for p in prompts)
    assert all(sum(m["role"] == "user" for m in p.messages) >= 2 for p in prompts if p.kind == "chat")
    # long prompts are documents, short ones questions (lengths after the chat template)
    assert min(p.input_tokens for p in prompts if p.kind == "long") > max(
        p.input_tokens for p in prompts if p.kind == "short"
    )
    # text_input is the JSON message list the ensemble's apply_chat_template expects
    assert json.loads(prompts[-1].text_input) == list(prompts[-1].messages)


def test_output_length_distributions():
    rng = random.Random(1)
    assert dataset.OutputLength.parse("fixed:40").sample(rng, 64) == 40
    assert dataset.OutputLength.parse("fixed:100").sample(rng, 64) == 64  # capped at max_tokens
    uniform = dataset.OutputLength.parse("uniform:16:20")
    assert {uniform.sample(rng, 64) for _ in range(200)} == {16, 17, 18, 19, 20}
    normal = dataset.OutputLength.parse("normal:5:50")
    assert all(1 <= normal.sample(rng, 64) <= 64 for _ in range(200))  # clipped to 1..cap
    for bad in ("fixed", "uniform:20:10", "normal:0:1", "poisson:3", "fixed:x"):
        with pytest.raises(ValueError):
            dataset.OutputLength.parse(bad)


def test_workload_follows_the_input_mix_and_is_seeded():
    prompts = dataset.load()
    mix = dataset.parse_mix("short=1,long=0,chat=1")
    w = dataset.Workload(prompts, mix, dataset.OutputLength.parse("fixed:8"), 64, seed=3)
    drawn = [w.next() for _ in range(300)]
    assert {r.prompt.kind for r in drawn} == {"short", "chat"}
    again = dataset.Workload(prompts, mix, dataset.OutputLength.parse("fixed:8"), 64, seed=3)
    assert [again.next().prompt.id for _ in range(300)] == [r.prompt.id for r in drawn]
    capped = dataset.Workload(
        prompts, {"long": 1}, dataset.OutputLength.parse("fixed:8"), 64, max_input_tokens=200
    )
    assert all(capped.next().prompt.input_tokens <= 200 for _ in range(50))
    with pytest.raises(ValueError):
        dataset.Workload(prompts, {"long": 1}, dataset.OutputLength.parse("fixed:8"), 64, max_input_tokens=10)
    with pytest.raises(ValueError):
        dataset.parse_mix("short=0,long=0")


def test_poisson_arrivals_per_stage():
    stages = [(2.0, 200.0), (10.0, 100.0)]
    xs = arrivals.poisson(stages, seed=7)
    assert all(a.offset_s < b.offset_s for a, b in zip(xs, xs[1:], strict=False))
    first = [a for a in xs if a.stage == 0]
    second = [a for a in xs if a.stage == 1]
    assert all(a.offset_s < 200 for a in first) and all(200 <= a.offset_s < 300 for a in second)
    # counts are Poisson(400) and Poisson(1000): within 4 standard deviations
    assert abs(len(first) - 400) < 4 * 20 and abs(len(second) - 1000) < 4 * 32
    # exponential inter-arrival times: mean 1/rate, coefficient of variation ≈ 1
    gaps = [b.offset_s - a.offset_s for a, b in zip(second, second[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    std = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5
    assert mean == pytest.approx(0.1, rel=0.1) and std / mean == pytest.approx(1.0, abs=0.1)
    assert arrivals.poisson(stages, seed=7) == xs


def test_parse_ramp_and_duration():
    assert arrivals.parse_ramp("0.5:2:0.5") == [0.5, 1.0, 1.5, 2.0]
    assert arrivals.parse_ramp("1,2,4") == [1.0, 2.0, 4.0]
    for bad in ("2:1:0.5", "1,0.5", "a:b:c", "0:1:1"):
        with pytest.raises(ValueError):
            arrivals.parse_ramp(bad)
    assert parse_duration("45s") == 45 and parse_duration("2m") == 120 and parse_duration("1m30s") == 90
    assert parse_duration("90") == 90
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_run_config_defaults_and_checks():
    assert RunConfig().users == 8 and RunConfig().host == "127.0.0.1:8001"
    assert RunConfig(rate=2.0).users == 32  # open loop: users are the in-flight cap
    assert RunConfig(protocol="http").host == "http://127.0.0.1:8000"
    ramp = RunConfig(ramp="1:3:1", stage_duration_s=10, slos={"ttft": 1.0})
    assert ramp.duration_s == 30 and ramp.rates == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        RunConfig(ramp="1:3:1")  # a ramp needs SLOs to search against
    with pytest.raises(ValueError):
        RunConfig(protocol="websocket")


def test_greedy_agreement_counts_tokens_before_first_divergence():
    a = [[1, 2, 3, 4], [5, 6, 7, 8]]
    b = [[1, 2, 9, 4], [5, 6, 7, 8]]  # prompt 1 diverges at token 3 (the 4 after it does not count)
    assert greedy_agreement(a, b) == {"prompts": 2, "identical_prompts": 1, "token_agreement": 6 / 8}
    with pytest.raises(ValueError):
        greedy_agreement(a, b[:1])


def test_timeline_and_concurrency():
    r1 = Record(send_s=0.0, ttft_s=0.5, e2e_s=1.5, output_tokens=4, chunk_offsets_s=[0.5, 0.9, 1.2, 1.4])
    r2 = Record(send_s=1.0, ttft_s=0.2, e2e_s=0.8, output_tokens=2, chunk_offsets_s=[0.2, 0.7])
    tl = report.timeline([r1, r2])
    assert tl["t"] == [0.0, 1.0]
    assert tl["tokens_per_s"] == [2.0, 4.0]  # r1: 0.5, 0.9 | 1.2, 1.4; r2: 1.2, 1.7
    assert tl["requests_per_s"] == [0.0, 2.0]
    assert tl["in_flight"] == pytest.approx([1.0, 1.3])  # 1 s of r1 | 0.5 s of r1 + 0.8 s of r2
    assert report.concurrency_at_send([r1, r2]) == [1, 2]


def _variant(
    precision: str, tpot_s: float, ttft_s: float, top1: float = 1.0, ppl_increase: float = 0.0
) -> dict:
    from loadtest import metrics

    # 10 requests, one per second, 11 tokens each: E2E = TTFT + 10·TPOT
    records = [
        Record(send_s=float(i), ttft_s=ttft_s, e2e_s=ttft_s + 10 * tpot_s, output_tokens=11)
        for i in range(10)
    ]
    return {
        "precision": precision,
        "result": {"summary": metrics.summarize(records, {"ttft": 1.0})},
        "quality": {"top1_agreement": top1, "perplexity_increase": ppl_increase},
    }


def test_recommendation_and_rollback_triggers():
    from loadtest.compare_report import recommend

    agreement = {"prompts": 60, "identical_prompts": 30, "token_agreement": 0.6}
    a = _variant("fp32", tpot_s=0.10, ttft_s=0.2)
    text, triggers = recommend(
        a, _variant("int8", tpot_s=0.08, ttft_s=0.2, top1=0.98, ppl_increase=0.01), agreement, {"ttft": 1.0}
    )
    assert text.startswith("**Deploy int8.**")
    # no TPOT SLO: 1.25 × int8's p99 TPOT (0.08 s); TTFT: the SLO; quality: 10 points under the agreement
    assert (
        "**0.1000 s**" in triggers[0]
        and "**1.000 s** (the ttft SLO)" in triggers[1]
        and "50%" in triggers[-1]
    )
    # faster but below the build's top-1 bar (97 % for int8, build_engines/onnx/recipes.py)
    # → keep the baseline
    text, _ = recommend(a, _variant("int8", tpot_s=0.08, ttft_s=0.2, top1=0.90), agreement, {"ttft": 1.0})
    assert text.startswith("**Keep fp32.**") and "quality" in text
    # faster, good quality, but TTFT tail 3× worse and beyond the SLO → keep the baseline
    text, _ = recommend(
        _variant("fp32", tpot_s=0.10, ttft_s=0.5),
        _variant("int8", tpot_s=0.08, ttft_s=1.5, top1=0.98),
        agreement,
        {},
    )
    assert text.startswith("**Keep fp32.**") and "p95 TTFT" in text
    # not faster → keep the baseline
    text, _ = recommend(a, _variant("int8", tpot_s=0.10, ttft_s=0.2, top1=0.98), agreement, {})
    assert text.startswith("**Keep fp32.**") and "not measurably faster" in text


def test_background_load_makes_the_comparison_inconclusive():
    from loadtest.compare_report import recommend

    agreement = {"prompts": 60, "identical_prompts": 30, "token_agreement": 0.6}
    a = _variant("fp32", tpot_s=0.10, ttft_s=0.2)
    b = _variant("int8", tpot_s=0.08, ttft_s=0.2, top1=0.98)
    b["result"]["machine"] = {"cpu": {"other_processes": 0.3}}
    text, _ = recommend(a, b, agreement, {})
    assert text.startswith("**Inconclusive") and "30% of the CPU during the int8 run" in text


def test_cpu_meter_shares():
    import os

    from loadtest.machine import CpuMeter

    meter = CpuMeter(os.getpid())
    sum(i * i for i in range(200_000))
    cpu = meter.stop()
    if cpu["machine_busy"] is None:
        pytest.skip("no /proc/stat")
    assert 0 <= cpu["server"] <= 1 and 0 <= cpu["machine_busy"] <= 1 and cpu["other_processes"] >= 0
